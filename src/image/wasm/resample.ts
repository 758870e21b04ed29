// AssemblyScript (compiled by scripts/build-wasm.mjs, not by tsc): the two passes of
// src/image/pillow-resample.ts with 128-bit SIMD, fused with the normalisation. The loader
// (src/image/simd-resample.ts) lays out the linear memory, computes the filter banks with the reference
// code and calls these two functions; nothing here allocates, and nothing here knows the filter: bilinear and
// bicubic differ only in their taps (bicubic's can be negative, so both clips bound below as well as above).
//
// Lanes are 32-bit: Pillow's 22-bit weights times 8-bit samples need 30 bits, so the 16-bit
// multiply-add Pillow-SIMD uses for speed would round differently. Accumulators wrap like C's int32
// (i32x4.add), as the TypeScript reference's `| 0` does; neither ever reaches ±2^31 (see its clip8).

const PRECISION_BITS: i32 = 22;
const HALF: i32 = 1 << (PRECISION_BITS - 1);

/**
 * 0–255 from four accumulators: `>> 22`, then saturating narrows to i16 and to u8, which is clip8 (0 below 0,
 * 255 above 255) for the ±640 that a shifted accumulator can reach.
 */
function clip8x4(acc: v128): v128 {
  const shifted = i32x4.shr_s(acc, PRECISION_BITS);
  const words = i16x8.narrow_i32x4_s(shifted, shifted);
  return i8x16.narrow_i16x8_u(words, words);
}

/**
 * `ImagingResampleHorizontal_8bpc` on `rowCount` rows starting at `src` (`rowStride` bytes apart,
 * `channels` ≥ 3 bytes per pixel, R G B first). One output pixel is one i32x4 of R, G, B and a fourth lane
 * whose value is never used; it is written as 4 bytes (RGBx) to `dst`, `outWidth · 4` bytes per row.
 * The caller leaves 8 readable bytes after the last source pixel (an 8-byte load reads each pixel).
 */
export function horizontal(
  src: usize,
  rowStride: i32,
  channels: i32,
  rowCount: i32,
  starts: usize,
  counts: usize,
  weights: usize,
  ksize: i32,
  outWidth: i32,
  dst: usize,
): void {
  const half = i32x4.splat(HALF);
  let o = dst;
  for (let y = 0; y < rowCount; y++) {
    const row = src + <usize>(y * rowStride);
    for (let x = 0; x < outWidth; x++) {
      const taps = load<i32>(counts + ((<usize>x) << 2));
      let p = row + <usize>(load<i32>(starts + ((<usize>x) << 2)) * channels);
      let w = weights + ((<usize>(x * ksize)) << 2);
      let acc = half;
      for (let t = 0; t < taps; t++) {
        const pixel = i32x4.extend_low_i16x8_u(v128.load8x8_u(p));
        acc = i32x4.add(acc, i32x4.mul(pixel, v128.load32_splat(w)));
        p += <usize>channels;
        w += 4;
      }
      v128.store32_lane(o, clip8x4(acc), 0);
      o += 4;
    }
  }
}

/**
 * `ImagingResampleVertical_8bpc` on the RGBx rows of {@link horizontal} (row `starts[y]` of the window is
 * at `src + starts[y] · width · 4`), then ToTensor + Normalize, written as planar CHW float32 to `dst`
 * (`width · height` floats per plane). Four pixels are one 16-byte load per tap; when `width` is not a multiple
 * of 4 the last group loads up to 12 bytes past its row (the caller leaves 16 readable bytes after the rows)
 * and stores only its own pixels.
 *
 * Normalisation: `((v / 255) − mean) / std` in float32, one correctly rounded operation per step — the
 * same three roundings as torch's `div(255).sub_(mean).div_(std)` and as the reference's tables.
 */
export function vertical(
  src: usize,
  width: i32,
  height: i32,
  starts: usize,
  counts: usize,
  weights: usize,
  ksize: i32,
  meanR: f32,
  meanG: f32,
  meanB: f32,
  stdR: f32,
  stdG: f32,
  stdB: f32,
  dst: usize,
): void {
  const half = i32x4.splat(HALF);
  const rowBytes = <usize>(width << 2);
  const plane = (<usize>(width * height)) << 2;
  const scale = f32x4.splat(255);
  const mr = f32x4.splat(meanR);
  const mg = f32x4.splat(meanG);
  const mb = f32x4.splat(meanB);
  const sr = f32x4.splat(stdR);
  const sg = f32x4.splat(stdG);
  const sb = f32x4.splat(stdB);
  for (let y = 0; y < height; y++) {
    const taps = load<i32>(counts + ((<usize>y) << 2));
    const first = src + <usize>load<i32>(starts + ((<usize>y) << 2)) * rowBytes;
    const wy = weights + ((<usize>(y * ksize)) << 2);
    let out = dst + ((<usize>(y * width)) << 2);
    for (let x = 0; x < width; x += 4) {
      let p = first + ((<usize>x) << 2);
      let a0 = half;
      let a1 = half;
      let a2 = half;
      let a3 = half;
      for (let t = 0; t < taps; t++) {
        const v = v128.load(p);
        const w = v128.load32_splat(wy + ((<usize>t) << 2));
        const lo = i16x8.extend_low_i8x16_u(v);
        const hi = i16x8.extend_high_i8x16_u(v);
        a0 = i32x4.add(a0, i32x4.mul(i32x4.extend_low_i16x8_u(lo), w));
        a1 = i32x4.add(a1, i32x4.mul(i32x4.extend_high_i16x8_u(lo), w));
        a2 = i32x4.add(a2, i32x4.mul(i32x4.extend_low_i16x8_u(hi), w));
        a3 = i32x4.add(a3, i32x4.mul(i32x4.extend_high_i16x8_u(hi), w));
        p += rowBytes;
      }
      // a0…a3 are pixels x…x+3 as [R, G, B, x]; clip and transpose to [R0 R1 R2 R3], [G…], [B…].
      const c0 = clip8i32x4(a0);
      const c1 = clip8i32x4(a1);
      const c2 = clip8i32x4(a2);
      const c3 = clip8i32x4(a3);
      const rg01 = i32x4.shuffle(c0, c1, 0, 4, 1, 5);
      const rg23 = i32x4.shuffle(c2, c3, 0, 4, 1, 5);
      const b01 = i32x4.shuffle(c0, c1, 2, 6, 3, 7);
      const b23 = i32x4.shuffle(c2, c3, 2, 6, 3, 7);
      const r = f32x4.convert_i32x4_s(i32x4.shuffle(rg01, rg23, 0, 1, 4, 5));
      const g = f32x4.convert_i32x4_s(i32x4.shuffle(rg01, rg23, 2, 3, 6, 7));
      const b = f32x4.convert_i32x4_s(i32x4.shuffle(b01, b23, 0, 1, 4, 5));
      const pixels = width - x;
      storePixels(out, f32x4.div(f32x4.sub(f32x4.div(r, scale), mr), sr), pixels);
      storePixels(out + plane, f32x4.div(f32x4.sub(f32x4.div(g, scale), mg), sg), pixels);
      storePixels(out + (plane << 1), f32x4.div(f32x4.sub(f32x4.div(b, scale), mb), sb), pixels);
      out += 16;
    }
  }
}

/** clip8 of four accumulators, kept as i32 lanes (for the float conversion): `>> 22`, then bounded to 0–255. */
function clip8i32x4(acc: v128): v128 {
  return i32x4.max_s(i32x4.min_s(i32x4.shr_s(acc, PRECISION_BITS), i32x4.splat(255)), i32x4.splat(0));
}

/** Stores the first `pixels` (all four when ≥ 4) floats of `values` at `at`: a row's last group writes only its own. */
function storePixels(at: usize, values: v128, pixels: i32): void {
  if (pixels >= 4) {
    v128.store(at, values);
    return;
  }
  v128.store32_lane(at, values, 0);
  if (pixels > 1) v128.store32_lane(at, values, 1, 4);
  if (pixels > 2) v128.store32_lane(at, values, 2, 8);
}
