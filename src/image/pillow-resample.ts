/**
 * Pillow's `Image.resize(size, Image.BILINEAR)` and `Image.resize(size, Image.BICUBIC)` for 8-bit RGB, bit for
 * bit (Pillow src/libImaging/Resample.c: `bilinear_filter`, `bicubic_filter`, `precompute_coeffs`,
 * `normalize_coeffs_8bpc`, `ImagingResampleHorizontal_8bpc` / `Vertical_8bpc`, `ImagingResampleInner`),
 * restricted to the output rows and columns the centre crop keeps.
 *
 * Why by hand: torchvision resizes PIL images with Pillow, whose filters have a support that grows with the
 * downscale factor (antialiasing), computed in two separable passes — horizontal first — with 22-bit
 * fixed-point weights and an 8-bit rounded intermediate image. libvips' `linear` kernel differs in weights and
 * rounding, and `vips_resize` adds shrink-on-load and box pre-shrinks: measured mean |Δ| against PIL's bilinear
 * 0.22/255 on a 640×480 JPEG but 0.89/255 (1400×1050) and 2.08/255 (2766×2075), over the 0.5/255 budget,
 * while this code matches PIL exactly.
 * Each output pixel depends only on its own taps, so computing just the cropped window gives the same
 * numbers as resizing everything and cropping afterwards.
 */

import type { Interpolation } from './recipe.js';
import type { RecipeGeometry } from './recipe-geometry.js';

/** `PRECISION_BITS = 32 - 8 - 2` in Resample.c. */
const PRECISION_BITS = 22;
const ONE = 1 << PRECISION_BITS;
/** Every accumulator starts at one half so that `>> PRECISION_BITS` rounds to nearest. */
const HALF = 1 << (PRECISION_BITS - 1);

/** The fixed-point taps of a window of outputs of one resampling pass. */
export interface FilterBank {
  /** First source index read by each output. */
  readonly start: Int32Array;
  /** Number of taps of each output. */
  readonly count: Int32Array;
  /** `ksize` weights per output (unused tail entries are 0), in units of 2^-22. */
  readonly weights: Int32Array;
  readonly ksize: number;
}

/** Pillow's `bilinear_filter`: a triangle of support 1. */
function triangle(x: number): number {
  const ax = x < 0 ? -x : x;
  return ax < 1 ? 1 - ax : 0;
}

/**
 * Pillow's `bicubic_filter`: Keys' cubic convolution with a = −0.5, support 2, negative on 1 < |x| < 2. The
 * operations are C's, in C's order, so every double is Pillow's (its x86-64 builds do not contract to FMA).
 */
function cubic(x: number): number {
  const a = -0.5;
  const ax = x < 0 ? -x : x;
  if (ax < 1) return ((a + 2) * ax - (a + 3)) * ax * ax + 1;
  if (ax < 2) return (((ax - 5) * ax + 8) * ax - 4) * a;
  return 0;
}

/** Resample.c's `struct filter`: the kernel and its support at scale 1. */
const FILTERS: Readonly<Record<Interpolation, { kernel: (x: number) => number; support: number }>> = {
  bilinear: { kernel: triangle, support: 1 },
  bicubic: { kernel: cubic, support: 2 },
};

/**
 * `precompute_coeffs` + `normalize_coeffs_8bpc` for outputs `first … first+length-1` of a resize from `inSize`
 * to `outSize` samples with Pillow's `interpolation` filter (box = the whole input, as torchvision's
 * `img.resize(size, filter)` leaves it).
 */
export function filterBank(interpolation: Interpolation, inSize: number, outSize: number, first: number, length: number): FilterBank {
  const { kernel, support: unitSupport } = FILTERS[interpolation];
  const scale = inSize / outSize;
  const filterScale = Math.max(scale, 1);
  const support = unitSupport * filterScale;
  const ksize = Math.ceil(support) * 2 + 1;
  const inverseScale = 1 / filterScale;
  const start = new Int32Array(length);
  const count = new Int32Array(length);
  const weights = new Int32Array(length * ksize);
  const taps = new Float64Array(ksize);
  for (let i = 0; i < length; i++) {
    const center = (first + i + 0.5) * scale;
    // C's (int) cast truncates toward zero; Math.trunc keeps that for the (clamped) negative case.
    const xmin = Math.max(Math.trunc(center - support + 0.5), 0);
    const xmax = Math.min(Math.trunc(center + support + 0.5), inSize) - xmin;
    let sum = 0;
    for (let x = 0; x < xmax; x++) {
      const w = kernel((x + xmin - center + 0.5) * inverseScale);
      taps[x] = w;
      sum += w;
    }
    for (let x = 0; x < xmax; x++) {
      const w = sum !== 0 ? taps[x]! / sum : taps[x]!;
      // Pillow rounds half away from zero: `(int)(±0.5 + w * 2^22)`, the sign chosen by w's.
      weights[i * ksize + x] = Math.trunc((w < 0 ? -0.5 : 0.5) + w * ONE);
    }
    start[i] = xmin;
    count[i] = xmax;
  }
  return { start, count, weights, ksize };
}

/**
 * Pillow's `clip8`: `clip8_lookups[acc >> 22]`, a table that is 0 below 0 and 255 above 255. Accumulators stay
 * int32 as in C (`| 0` keeps V8 on integer arithmetic, measured ~20% faster than doubles) and never wrap: the
 * taps of one output sum to 2^22 (± their rounding), and their negative part (bicubic's only) is at most 0.135 ·
 * 2^22 (measured over 8 million outputs of random filter banks; test/unit/image-bicubic.test.ts checks a sample),
 * so |acc| ≤ 2^21 + 255 · 1.135 · 2^22 ≈ 1.2 · 2^30, where wrapping would need a negative part near 1.
 */
function clip8(accumulator: number): number {
  const value = accumulator >> PRECISION_BITS;
  return Math.max(0, Math.min(value, 255));
}

/** 8-bit pixels with `channels` (3 or more) interleaved samples per pixel; the first three are R, G, B. */
export interface RgbPixels {
  readonly data: Uint8Array;
  readonly width: number;
  readonly height: number;
  readonly channels: number;
}

/**
 * `ImagingResampleHorizontal_8bpc`: resamples source rows `rowFirst … rowFirst+rowCount-1` through
 * `bank`, writing packed RGB rows of `bank.start.length` pixels.
 */
function horizontalPass(source: RgbPixels, rowFirst: number, rowCount: number, bank: FilterBank): Uint8Array {
  const { data, width, channels } = source;
  const { start, count, weights, ksize } = bank;
  const outWidth = start.length;
  const out = new Uint8Array(rowCount * outWidth * 3);
  let o = 0;
  for (let y = 0; y < rowCount; y++) {
    const rowBase = (rowFirst + y) * width * channels;
    for (let xx = 0; xx < outWidth; xx++) {
      const taps = count[xx]!;
      const k = xx * ksize;
      let p = rowBase + start[xx]! * channels;
      let r = HALF;
      let g = HALF;
      let b = HALF;
      for (let t = 0; t < taps; t++) {
        const w = weights[k + t]!;
        r = (r + data[p]! * w) | 0;
        g = (g + data[p + 1]! * w) | 0;
        b = (b + data[p + 2]! * w) | 0;
        p += channels;
      }
      out[o++] = clip8(r);
      out[o++] = clip8(g);
      out[o++] = clip8(b);
    }
  }
  return out;
}

/** The two passes' filters for one resize-and-crop, and the source rows the vertical pass reads. */
export interface CropFilters {
  vertical: FilterBank;
  horizontal: FilterBank;
  /** First source row the vertical pass reads, and how many: the horizontal pass covers only these. */
  rowFirst: number;
  rowCount: number;
}

/** The filters of {@link resizeCropInto}, shared with the WebAssembly kernel so both compute the same taps. */
export function cropFilters(source: RgbPixels, window: RecipeGeometry, interpolation: Interpolation): CropFilters {
  const { resizedWidth, resizedHeight, cropTop, cropLeft, cropSize } = window;
  const vertical = filterBank(interpolation, source.height, resizedHeight, cropTop, cropSize);
  const horizontal = filterBank(interpolation, source.width, resizedWidth, cropLeft, cropSize);
  // ImagingResampleInner: the horizontal pass only covers the source rows the vertical pass reads.
  const rowFirst = vertical.start[0]!;
  const rowCount = vertical.start[cropSize - 1]! + vertical.count[cropSize - 1]! - rowFirst;
  return { vertical, horizontal, rowFirst, rowCount };
}

/** One lookup table per channel mapping an 8-bit value to its normalised float. */
export type ChannelTables = readonly [Float32Array, Float32Array, Float32Array];

/**
 * Resizes `source` to `window.resizedWidth` × `window.resizedHeight` exactly like Pillow's `interpolation`
 * filter, keeps the `cropSize` × `cropSize` window at (`cropTop`, `cropLeft`), and writes it as planar CHW
 * floats through `tables` into `out[offset … offset + 3·cropSize² - 1]`. Nothing else in `out` is touched.
 */
export function resizeCropInto(
  source: RgbPixels,
  window: RecipeGeometry,
  interpolation: Interpolation,
  tables: ChannelTables,
  out: Float32Array,
  offset: number,
): void {
  const { vertical, horizontal, rowFirst, rowCount } = cropFilters(source, window, interpolation);
  const size = window.cropSize;
  // When a side keeps its length Pillow skips that pass; the identity taps computed here (2^22 on the pixel
  // itself, 0 on its neighbours, for both filters) reproduce the input exactly, so running the pass anyway changes no value.
  const rows = horizontalPass(source, rowFirst, rowCount, horizontal);
  const [red, green, blue] = tables;
  const plane = size * size;
  const rowStride = size * 3;
  const { start, count, weights, ksize } = vertical;
  for (let yy = 0; yy < size; yy++) {
    const taps = count[yy]!;
    const k = yy * ksize;
    const firstRow = (start[yy]! - rowFirst) * rowStride;
    let o = offset + yy * size;
    for (let xx = 0; xx < size; xx++) {
      let p = firstRow + xx * 3;
      let r = HALF;
      let g = HALF;
      let b = HALF;
      for (let t = 0; t < taps; t++) {
        const w = weights[k + t]!;
        r = (r + rows[p]! * w) | 0;
        g = (g + rows[p + 1]! * w) | 0;
        b = (b + rows[p + 2]! * w) | 0;
        p += rowStride;
      }
      out[o] = red[clip8(r)]!;
      out[o + plane] = green[clip8(g)]!;
      out[o + 2 * plane] = blue[clip8(b)]!;
      o++;
    }
  }
}
