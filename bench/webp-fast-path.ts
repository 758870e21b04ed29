/**
 * The measurement behind WEBP_FAST_PATH_MIN_SHRINK (src/image/preprocess.ts): WebP shrink-on-load (libwebp's
 * scaled decode, reduced to 3× the resize size) against the exact path, mean and max |Δ| in 1/255 over the
 * 3×224×224 tensor, for the large photo fixtures re-encoded at several sizes and qualities, and the time of each.
 *   node --import ./scripts/ts-register.mjs bench/webp-fast-path.ts
 */
import { readFileSync } from 'node:fs';
import sharp from 'sharp';
import { decodeImage, type Reduction, readImageHeader } from '../src/image/decode.js';
import { normalizationTables } from '../src/image/normalize.js';
import { resizeCropInto } from '../src/image/pillow-resample.js';
import { IMAGENET_RECIPE, INPUT_ELEMENTS } from '../src/image/recipe.js';
import { recipeGeometry } from '../src/image/recipe-geometry.js';

const TABLES = normalizationTables(IMAGENET_RECIPE);

async function tensorOf(bytes: Uint8Array, fast: boolean): Promise<Float32Array> {
  const header = await readImageHeader(bytes, 40e6);
  let reduce: Reduction | undefined;
  if (fast) {
    const g = recipeGeometry(header.width, header.height, IMAGENET_RECIPE);
    reduce = { width: g.resizedWidth * 3, height: g.resizedHeight * 3 };
  }
  const pixels = await decodeImage(bytes, header, 40e6, reduce);
  const g = recipeGeometry(pixels.width, pixels.height, IMAGENET_RECIPE);
  const out = new Float32Array(INPUT_ELEMENTS);
  resizeCropInto(pixels, g, IMAGENET_RECIPE.interpolation, TABLES, out, 0);
  return out;
}

for (const source of ['large-1400x1050.jpg', 'large-exif6-1300x1100.jpg']) {
  const base = readFileSync(new URL(`../test/fixtures/images/${source}`, import.meta.url));
  const { width = 0, height = 0 } = await sharp(base).metadata();
  for (const scale of [1, 1.6, 2, 3, 4]) {
    const w = Math.round(width * scale);
    const h = Math.round(height * scale);
    for (const options of [{ quality: 75 }, { quality: 90 }, { lossless: true }]) {
      const webp = await sharp(base).resize(w, h, { kernel: 'lanczos3' }).webp(options).toBuffer();
      const t0 = performance.now();
      const exact = await tensorOf(webp, false);
      const t1 = performance.now();
      const fast = await tensorOf(webp, true);
      const t2 = performance.now();
      let sum = 0;
      let max = 0;
      for (let i = 0; i < exact.length; i++) {
        const delta = Math.abs(exact[i]! - fast[i]!) * IMAGENET_RECIPE.std[Math.floor(i / (224 * 224))]! * 255;
        sum += delta;
        max = Math.max(max, delta);
      }
      console.log(
        `${source} as ${w}×${h} ${JSON.stringify(options)}: mean |Δ| ${(sum / exact.length).toFixed(3)}/255, max ${max.toFixed(1)}; exact ${(t1 - t0).toFixed(0)} ms, fast ${(t2 - t1).toFixed(0)} ms`,
      );
    }
  }
}
