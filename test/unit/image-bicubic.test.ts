import { afterAll, describe, expect, it } from 'vitest';
import { decodeImage, readImageHeader } from '../../src/image/decode.js';
import { preprocess } from '../../src/image/index.js';
import { normalizationTables } from '../../src/image/normalize.js';
import { filterBank, type RgbPixels, resizeCropInto } from '../../src/image/pillow-resample.js';
import { IMAGENET_RECIPE, INTERPOLATIONS, inputElements, type PreprocessRecipe } from '../../src/image/recipe.js';
import { recipeGeometry } from '../../src/image/recipe-geometry.js';
import { loadSimdResampler } from '../../src/image/resample-kernel.js';
import { mulberry32 } from '../helpers/random.js';
import {
  BICUBIC_FIXTURES,
  type BicubicEntry,
  pixelDifference,
  readBicubicManifest,
  readFixture,
  readReferencePng,
} from './image-reference.js';

const manifest = readBicubicManifest();
const simd = loadSimdResampler()!;
const recipeOf = (entry: BicubicEntry): PreprocessRecipe => manifest.recipes[entry.recipe]!;
const cases = (filter: (e: BicubicEntry) => boolean) =>
  manifest.fixtures.filter(filter).map((e) => [`${e.file} (${e.recipe} ${recipeOf(e).resizeSize}→${recipeOf(e).cropSize})`, e] as const);

/** The lossy JPEG decodes as PIL's does here; the budget is the bilinear tests' (image-preprocess.test.ts). */
const MEAN_BOUND = 0.5 / 255;
/** The shrink-on-load fast path (≥ 1024 px JPEGs) with bicubic: measured 0.137/255 on large-1400x1050.jpg. */
const FAST_PATH_BOUND = 0.25 / 255;

async function decoded(file: string): Promise<RgbPixels> {
  const bytes = readFixture(file);
  return decodeImage(bytes, await readImageHeader(bytes, 40_000_000), 40_000_000);
}

describe('the recipes of the bicubic fixtures', () => {
  it('are torchvision’s: efficientnet_b0’s 256→224, and 232→224 and 342→299 with bicubic; the geometry is PIL’s', () => {
    expect(manifest.recipes.efficientnet_b0).toEqual({ ...IMAGENET_RECIPE, interpolation: 'bicubic' });
    expect(Object.values(manifest.recipes).map((r) => [r.resizeSize, r.cropSize])).toEqual([
      [256, 224],
      [232, 224],
      [342, 299],
    ]);
    for (const entry of manifest.fixtures) {
      const g = recipeGeometry(entry.size[0], entry.size[1], recipeOf(entry));
      expect({ file: entry.file, resized: [g.resizedWidth, g.resizedHeight], cropTopLeft: [g.cropTop, g.cropLeft] }).toEqual({
        file: entry.file,
        resized: entry.resized,
        cropTopLeft: entry.cropTopLeft,
      });
    }
  });
});

describe('preprocess with a bicubic recipe against torchvision + PIL', () => {
  const measured: string[] = [];
  afterAll(() => console.info(`bicubic: mean / max |Δ| per lossy fixture, in 8-bit levels:\n${measured.join('\n')}`));

  it.each(cases((e) => e.lossless))('%s: bit-exact, and torch’s float32 values at the probed indices', async (_name, entry) => {
    const recipe = recipeOf(entry);
    const tensor = await preprocess(readFixture(entry.file), { recipe });
    expect(tensor.length).toBe(inputElements(recipe));
    const reference = readReferencePng(entry.reference, BICUBIC_FIXTURES);
    expect([reference.width, reference.height]).toEqual([recipe.cropSize, recipe.cropSize]);
    expect(pixelDifference(tensor, 0, reference.rgb, recipe.mean, recipe.std).max).toBeLessThan(1e-6);
    entry.tensorProbe.index.forEach((index, i) => {
      expect(tensor[index]).toBe(Math.fround(entry.tensorProbe.value[i]!));
    });
  });

  it.each(cases((e) => !e.lossless))('%s: within the mean |Δ| bound', async (_name, entry) => {
    const recipe = recipeOf(entry);
    const diff = pixelDifference(
      await preprocess(readFixture(entry.file), { recipe }),
      0,
      readReferencePng(entry.reference, BICUBIC_FIXTURES).rgb,
      recipe.mean,
      recipe.std,
    );
    measured.push(`  ${entry.file.padEnd(30)} ${(diff.mean * 255).toFixed(3)} / ${(diff.max * 255).toFixed(1)}`);
    expect(diff.mean).toBeLessThanOrEqual(entry.file.startsWith('large-') ? FAST_PATH_BOUND : MEAN_BOUND);
  });

  it('a bilinear recipe of the same sizes gives other pixels (the filter is not ignored)', async () => {
    const entry = manifest.fixtures.find((e) => e.lossless && e.recipe === 'bicubic-342-299')!;
    const recipe = recipeOf(entry);
    const bilinear = await preprocess(readFixture(entry.file), { recipe: { ...recipe, interpolation: 'bilinear' } });
    const diff = pixelDifference(bilinear, 0, readReferencePng(entry.reference, BICUBIC_FIXTURES).rgb, recipe.mean, recipe.std);
    expect(diff.max).toBeGreaterThan(1 / 255);
  });
});

describe.each([
  ['the TypeScript reference', 'typescript'],
  ['the WebAssembly SIMD kernel', 'wasm'],
] as const)('%s with bicubic on the decoded lossless fixtures', (_name, kernel) => {
  it.each(cases((e) => e.lossless))('%s: PIL’s crop exactly', async (_label, entry) => {
    const recipe = recipeOf(entry);
    const source = await decoded(entry.file);
    const g = recipeGeometry(source.width, source.height, recipe);
    const out = new Float32Array(inputElements(recipe));
    if (kernel === 'typescript') resizeCropInto(source, g, 'bicubic', normalizationTables(recipe), out, 0);
    else simd.resizeCropInto(source, g, 'bicubic', recipe, out, 0);
    const reference = readReferencePng(entry.reference, BICUBIC_FIXTURES).rgb;
    expect(pixelDifference(out, 0, reference, recipe.mean, recipe.std).max).toBeLessThan(1e-6);
  });
});

describe('Pillow’s filter banks', () => {
  it.each(INTERPOLATIONS)('%s at scale 1 is the identity (why running a pass Pillow skips changes nothing)', (interpolation) => {
    for (const size of [1, 2, 5, 224, 301]) {
      const bank = filterBank(interpolation, size, size, 0, size);
      for (let i = 0; i < size; i++) {
        const taps = Array.from(bank.weights.subarray(i * bank.ksize, i * bank.ksize + bank.count[i]!));
        expect(taps[i - bank.start[i]!]).toBe(2 ** 22);
        expect(taps.filter((w) => w !== 0)).toHaveLength(1);
      }
    }
  });

  it('bicubic has negative taps, rounded half away from zero as normalize_coeffs_8bpc does', () => {
    // 2 → 5: output 0 reads pixels 0 and 1 at distances 0.3 and 1.3 (in input units: center 0.2 − 0.5).
    const bank = filterBank('bicubic', 2, 5, 0, 5);
    const cubic = (x: number): number => (x < 1 ? (1.5 * x - 2.5) * x * x + 1 : (((x - 5) * x + 8) * x - 4) * -0.5);
    const [near, far] = [cubic(0.3), cubic(1.3)];
    expect(far).toBeLessThan(0);
    const round = (w: number): number => Math.trunc((w < 0 ? -0.5 : 0.5) + w * 2 ** 22);
    expect([bank.start[0], bank.count[0]]).toEqual([0, 2]);
    expect([bank.weights[0], bank.weights[1]]).toEqual([round(near / (near + far)), round(far / (near + far))]);
  });

  it('no accumulator can wrap: on random banks, 2^21 + 255 · (positive taps) < 2^31 and 2^21 − 255 · (negative taps) > −2^31', () => {
    const next = mulberry32(21);
    let worstNegative = 0;
    let worstPositive = 0;
    let worstSumError = 0;
    for (let n = 0; n < 2000; n++) {
      const inSize = 1 + Math.floor(next() ** 2 * 4000);
      const outSize = 1 + Math.floor(next() ** 2 * 700);
      const bank = filterBank('bicubic', inSize, outSize, 0, outSize);
      for (let i = 0; i < outSize; i++) {
        let positive = 0;
        let negative = 0;
        for (let t = 0; t < bank.count[i]!; t++) {
          const w = bank.weights[i * bank.ksize + t]!;
          if (w > 0) positive += w;
          else negative -= w;
        }
        // Each tap is rounded by at most one half.
        worstSumError = Math.max(worstSumError, Math.abs(positive - negative - 2 ** 22) / (bank.count[i]! / 2));
        worstPositive = Math.max(worstPositive, positive);
        worstNegative = Math.max(worstNegative, negative);
      }
    }
    expect(worstSumError).toBeLessThanOrEqual(1);
    expect(2 ** 21 + 255 * worstPositive).toBeLessThan(2 ** 31);
    expect(2 ** 21 - 255 * worstNegative).toBeGreaterThan(-(2 ** 31));
    // The bound pillow-resample.ts's clip8 states.
    expect(worstNegative / 2 ** 22).toBeLessThanOrEqual(0.135);
  });
});
