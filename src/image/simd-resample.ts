import { cropFilters, type FilterBank, type RgbPixels } from './pillow-resample.js';
import type { Interpolation } from './recipe.js';
import type { RecipeGeometry } from './recipe-geometry.js';

/**
 * The WebAssembly SIMD build of {@link resizeCropInto} (src/image/wasm/resample.ts, compiled by `npm run build`),
 * bit-identical to the TypeScript reference in src/image/pillow-resample.ts, which stays the fallback where
 * WebAssembly SIMD is missing. This file is platform-neutral (no Node imports): the server loads the module
 * from disk (`loadSimdResampler` in resample-kernel.ts), the page fetches the same bytes (web/on-device-preprocess.ts).
 *
 * The filter banks are computed by the reference code (float64, once per call, ~crop · ksize values), so the
 * weights are the reference's by construction, for every filter; only the two integer passes and the
 * normalisation run in WebAssembly.
 */

/**
 * `(module (func (result v128) v128.const i32x4 0 0 0 0))`: validates only where the engine has 128-bit SIMD
 * (Chrome 91, Firefox 89, Safari 16.4, Node 16.4).
 */
const SIMD_PROBE = new Uint8Array([
  0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, 0x01, 0x05, 0x01, 0x60, 0x00, 0x01, 0x7b, 0x03, 0x02, 0x01, 0x00, 0x0a, 0x16, 0x01, 0x14,
  0x00, 0xfd, 0x0c, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x0b,
]);

/** Whether this JavaScript engine runs WebAssembly with 128-bit SIMD. */
export function wasmSimdSupported(): boolean {
  return typeof WebAssembly === 'object' && WebAssembly.validate(SIMD_PROBE);
}

/** The recipe's Normalize parameters, per channel R, G, B. */
export interface Normalization {
  readonly mean: readonly number[];
  readonly std: readonly number[];
}

interface KernelExports {
  readonly memory: WebAssembly.Memory;
  horizontal(
    src: number,
    rowStride: number,
    channels: number,
    rowCount: number,
    starts: number,
    counts: number,
    weights: number,
    ksize: number,
    outWidth: number,
    dst: number,
  ): void;
  vertical(
    src: number,
    width: number,
    height: number,
    starts: number,
    counts: number,
    weights: number,
    ksize: number,
    meanR: number,
    meanG: number,
    meanB: number,
    stdR: number,
    stdG: number,
    stdB: number,
    dst: number,
  ): void;
}

/**
 * Source rows are copied into the module's memory at most this many bytes at a time, so that the memory (which
 * WebAssembly never gives back) stays a few MB whatever the image: 40 MP would otherwise keep 120 MB for
 * the life of the process. 1 MiB holds a whole 640×480 RGB image, so the usual upload is one copy.
 */
const STRIP_BYTES = 1 << 20;
/**
 * The horizontal pass loads 8 bytes per pixel: the last pixel of a strip reads up to 5 bytes past it. The
 * vertical pass loads 4 pixels at once: a crop whose size is not a multiple of 4 reads up to 12 bytes past the rows.
 */
const LOAD_SLACK = 16;

const align16 = (n: number): number => (n + 15) & ~15;

/** A placement of the arrays one call needs in the module's linear memory. */
class Layout {
  size = 0;
  take(bytes: number): number {
    const at = this.size;
    this.size = align16(at + bytes);
    return at;
  }
}

/** One instance of the kernel; its memory is reused by every call (calls are synchronous, so never shared). */
export class SimdResampler {
  readonly #kernel: KernelExports;

  private constructor(kernel: KernelExports) {
    this.#kernel = kernel;
  }

  /** Instantiates the compiled kernel (`resample.wasm`); it imports nothing. */
  static fromModule(module: WebAssembly.Module): SimdResampler {
    return new SimdResampler(new WebAssembly.Instance(module, {}).exports as unknown as KernelExports);
  }

  /**
   * Same contract and same output, bit for bit, as the reference `resizeCropInto`, with the normalisation
   * given as mean and std instead of tables, for any crop size (the vertical pass stores a row's last pixels
   * one by one when the size is not a multiple of 4).
   */
  resizeCropInto(
    source: RgbPixels,
    window: RecipeGeometry,
    interpolation: Interpolation,
    normalization: Normalization,
    out: Float32Array,
    offset: number,
  ): void {
    const { vertical, horizontal, rowFirst, rowCount } = cropFilters(source, window, interpolation);
    const size = window.cropSize;
    const rowStride = source.width * source.channels;
    const stripRows = Math.max(1, Math.min(rowCount, Math.floor(STRIP_BYTES / rowStride)));

    const layout = new Layout();
    const hBank = layout.take(bankBytes(horizontal));
    const vBank = layout.take(bankBytes(vertical));
    const rows = layout.take(rowCount * size * 4 + LOAD_SLACK);
    const tensor = layout.take(3 * size * size * 4);
    const strip = layout.take(stripRows * rowStride + LOAD_SLACK);
    const memory = this.#memoryOf(layout.size);

    const h = writeBank(memory, hBank, horizontal, 0);
    const v = writeBank(memory, vBank, vertical, rowFirst);
    const bytes = new Uint8Array(memory.buffer);
    const { data } = source;
    for (let y = 0; y < rowCount; y += stripRows) {
      const count = Math.min(stripRows, rowCount - y);
      const from = (rowFirst + y) * rowStride;
      bytes.set(data.subarray(from, from + count * rowStride), strip);
      this.#kernel.horizontal(
        strip,
        rowStride,
        source.channels,
        count,
        h.starts,
        h.counts,
        h.weights,
        horizontal.ksize,
        size,
        rows + y * size * 4,
      );
    }
    const [meanR, meanG, meanB] = normalization.mean.map(Math.fround) as [number, number, number];
    const [stdR, stdG, stdB] = normalization.std.map(Math.fround) as [number, number, number];
    this.#kernel.vertical(rows, size, size, v.starts, v.counts, v.weights, vertical.ksize, meanR, meanG, meanB, stdR, stdG, stdB, tensor);
    out.set(new Float32Array(memory.buffer, tensor, 3 * size * size), offset);
  }

  /** The module's memory, grown to at least `bytes`. */
  #memoryOf(bytes: number): WebAssembly.Memory {
    const { memory } = this.#kernel;
    const missing = bytes - memory.buffer.byteLength;
    if (missing > 0) memory.grow(Math.ceil(missing / 65536));
    return memory;
  }
}

function bankBytes(bank: FilterBank): number {
  return align16(bank.start.length * 4) * 2 + bank.weights.length * 4;
}

/** Copies a filter bank to `at`, with its starts made relative to `origin`; returns where each array went. */
function writeBank(
  memory: WebAssembly.Memory,
  at: number,
  bank: FilterBank,
  origin: number,
): { starts: number; counts: number; weights: number } {
  const n = bank.start.length;
  const starts = at;
  const counts = starts + align16(n * 4);
  const weights = counts + align16(n * 4);
  const view = new Int32Array(memory.buffer);
  for (let i = 0; i < n; i++) view[starts / 4 + i] = bank.start[i]! - origin;
  view.set(bank.count, counts / 4);
  view.set(bank.weights, weights / 4);
  return { starts, counts, weights };
}
