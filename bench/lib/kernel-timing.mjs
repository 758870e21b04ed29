// The preprocessing of one image taken apart, from dist/: header read, decode (sharp), then the Pillow resample
// + crop + normalise by the TypeScript reference and by the WebAssembly SIMD kernel, on the same decoded
// pixels, interleaved run by run so that a burst from another tenant hits both alike. Also the library's own
// preprocess() end to end, and the same path with the reference kernel ("before"), for the ratio. Each kernel
// runs with both filters: BILINEAR (ResNet-18's recipe) and BICUBIC (efficientnet_b0's, the same 256 → 224
// geometry, so the ratio is the filter's cost alone).

import { decodeImage, readImageHeader } from '../../dist/image/decode.js';
import { normalizationTables } from '../../dist/image/normalize.js';
import { resizeCropInto } from '../../dist/image/pillow-resample.js';
import { fastPathReduction, preprocess } from '../../dist/image/preprocess.js';
import { IMAGENET_RECIPE } from '../../dist/image/recipe.js';
import { recipeGeometry } from '../../dist/image/recipe-geometry.js';
import { loadSimdResampler, RESAMPLE_KERNEL } from '../../dist/image/resample-kernel.js';

const TABLES = normalizationTables(IMAGENET_RECIPE);
const SIMD = loadSimdResampler();
/** torchvision's `EfficientNet_B0_Weights.IMAGENET1K_V1.transforms()`: ResNet-18's sizes and Normalize, bicubic. */
export const BICUBIC_RECIPE = Object.freeze({ ...IMAGENET_RECIPE, interpolation: 'bicubic' });
const MAX_PIXELS = 40_000_000;

export const KERNEL = RESAMPLE_KERNEL;

const referenceResample = (pixels, g, out, interpolation = 'bilinear') => resizeCropInto(pixels, g, interpolation, TABLES, out, 0);
const simdResample = (pixels, g, out, interpolation = 'bilinear') => SIMD.resizeCropInto(pixels, g, interpolation, IMAGENET_RECIPE, out, 0);

const timed = (fn) => {
  const t = performance.now();
  fn();
  return performance.now() - t;
};

/** Both results, in argument order, of `first` and `second` called in that order on even runs, reversed on odd ones. */
function ordered(run, first, second) {
  if (run % 2 === 0) {
    const x = first();
    return [x, second()];
  }
  const y = second();
  return [first(), y];
}

/** Header read + decode, as the library does them; returns the pixels and the two durations. */
async function decodeTimed(bytes) {
  const t0 = performance.now();
  const header = await readImageHeader(bytes, MAX_PIXELS);
  const t1 = performance.now();
  const pixels = await decodeImage(bytes, header, MAX_PIXELS, fastPathReduction(header));
  return { pixels, headerMs: t1 - t0, decodeMs: performance.now() - t1 };
}

/**
 * `runs` interleaved measurements of one encoded image (after `warmup` unmeasured ones), in milliseconds:
 * `header`, `decode`, `resampleReference`, `resampleSimd` (the kernels alone, on the same pixels, bilinear),
 * `resampleReferenceBicubic`, `resampleSimdBicubic` (the same with bicubic), `preprocessReference` /
 * `preprocessSimd` (header + decode + that kernel, each decoding for itself, bilinear) and `preprocess` /
 * `preprocessBicubic` (the library's preprocess() with each recipe, whichever kernel it picked).
 */
export async function timeKernels(bytes, runs, warmup = 3) {
  const out = new Float32Array(3 * IMAGENET_RECIPE.cropSize ** 2);
  const keys = [
    'header',
    'decode',
    'resampleReference',
    'resampleSimd',
    'resampleReferenceBicubic',
    'resampleSimdBicubic',
    'preprocessReference',
    'preprocessSimd',
    'preprocess',
    'preprocessBicubic',
  ];
  const samples = Object.fromEntries(keys.map((k) => [k, []]));
  const geometry = (pixels) => recipeGeometry(pixels.width, pixels.height, IMAGENET_RECIPE);
  for (let i = -warmup; i < runs; i++) {
    const a = await decodeTimed(bytes);
    const reference = timed(() => referenceResample(a.pixels, geometry(a.pixels), out));
    const b = await decodeTimed(bytes);
    const simd = timed(() => simdResample(b.pixels, geometry(b.pixels), out));
    // The bicubic pair runs in the opposite order every other run, so that neither side always follows the other.
    const [referenceBicubic, simdBicubic] = ordered(
      i,
      () => timed(() => referenceResample(a.pixels, geometry(a.pixels), out, 'bicubic')),
      () => timed(() => simdResample(b.pixels, geometry(b.pixels), out, 'bicubic')),
    );
    let t = performance.now();
    await preprocess(bytes);
    const whole = performance.now() - t;
    t = performance.now();
    await preprocess(bytes, { recipe: BICUBIC_RECIPE });
    const wholeBicubic = performance.now() - t;
    if (i < 0) continue;
    samples.header.push(a.headerMs, b.headerMs);
    samples.decode.push(a.decodeMs, b.decodeMs);
    samples.resampleReference.push(reference);
    samples.resampleSimd.push(simd);
    samples.resampleReferenceBicubic.push(referenceBicubic);
    samples.resampleSimdBicubic.push(simdBicubic);
    samples.preprocessReference.push(a.headerMs + a.decodeMs + reference);
    samples.preprocessSimd.push(b.headerMs + b.decodeMs + simd);
    samples.preprocess.push(whole);
    samples.preprocessBicubic.push(wholeBicubic);
  }
  return samples;
}
