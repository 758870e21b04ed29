import { readFileSync } from 'node:fs';
import { normalizationTables } from './normalize.js';
import { type ChannelTables, type RgbPixels, resizeCropInto } from './pillow-resample.js';
import type { PreprocessRecipe } from './recipe.js';
import type { RecipeGeometry } from './recipe-geometry.js';
import { SimdResampler, wasmSimdSupported } from './simd-resample.js';

/** Where `npm run build` puts the compiled kernel, next to this module (in src/ for tests, dist/ once built). */
export const RESAMPLE_WASM_URL = new URL('./wasm/resample.wasm', import.meta.url);

/**
 * The SIMD kernel, compiled synchronously from disk (1 KB, well under a millisecond), or `undefined` where
 * this Node has no WebAssembly SIMD, or where the file is not beside this module: a bundler that copied this
 * code but not `wasm/resample.wasm`. That case warns once (the reference is ~5× slower) instead of failing.
 */
export function loadSimdResampler(): SimdResampler | undefined {
  if (!wasmSimdSupported()) return undefined;
  let bytes: Uint8Array<ArrayBuffer>;
  try {
    bytes = new Uint8Array(readFileSync(RESAMPLE_WASM_URL));
  } catch (cause) {
    if ((cause as NodeJS.ErrnoException).code !== 'ENOENT') throw cause;
    process.emitWarning(`${RESAMPLE_WASM_URL.pathname} is missing; resampling with the slower TypeScript kernel`, {
      code: 'RESNET_SERVE_NO_WASM',
    });
    return undefined;
  }
  return SimdResampler.fromModule(new WebAssembly.Module(bytes));
}

const SIMD = loadSimdResampler();
/** The reference kernel's tables of each recipe in use (a handful per process: one per served model). */
const TABLES = new WeakMap<PreprocessRecipe, ChannelTables>();

function tablesOf(recipe: PreprocessRecipe): ChannelTables {
  let tables = TABLES.get(recipe);
  if (tables === undefined) {
    tables = normalizationTables(recipe);
    TABLES.set(recipe, tables);
  }
  return tables;
}

/** Which implementation {@link resampleInto} uses in this process. */
export const RESAMPLE_KERNEL: 'wasm-simd' | 'typescript' = SIMD === undefined ? 'typescript' : 'wasm-simd';

/**
 * Pillow's resize with the recipe's filter + centre crop + Normalize of `recipe` into `out` at `offset`, with
 * the WebAssembly SIMD kernel where it runs (measured 5–6× faster on the resample step) and the TypeScript
 * reference otherwise; both give the same bits.
 */
export function resampleInto(pixels: RgbPixels, g: RecipeGeometry, recipe: PreprocessRecipe, out: Float32Array, offset: number): void {
  if (SIMD !== undefined) {
    SIMD.resizeCropInto(pixels, g, recipe.interpolation, recipe, out, offset);
  } else {
    resizeCropInto(pixels, g, recipe.interpolation, tablesOf(recipe), out, offset);
  }
}
