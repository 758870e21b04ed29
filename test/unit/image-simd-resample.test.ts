import { describe, expect, it } from 'vitest';
import { decodeImage, readImageHeader } from '../../src/image/decode.js';
import { normalizationTables } from '../../src/image/normalize.js';
import { type RgbPixels, resizeCropInto } from '../../src/image/pillow-resample.js';
import { IMAGENET_RECIPE, INTERPOLATIONS, type Interpolation } from '../../src/image/recipe.js';
import { type RecipeGeometry, recipeGeometry } from '../../src/image/recipe-geometry.js';
import { loadSimdResampler, RESAMPLE_KERNEL } from '../../src/image/resample-kernel.js';
import { SimdResampler, wasmSimdSupported } from '../../src/image/simd-resample.js';
import { mulberry32 } from '../helpers/random.js';
import { readFixture, readManifest } from './image-reference.js';

const TABLES = normalizationTables(IMAGENET_RECIPE);
const simd = loadSimdResampler();

/** Seeded: every run draws the same images, so a failure names a reproducible case. */
const rng = mulberry32;

/** Both kernels on one image, window and filter; returns the first differing index, or -1 when every bit agrees. */
function firstDifference(source: RgbPixels, window: RecipeGeometry, interpolation: Interpolation): number {
  const elements = 3 * window.cropSize ** 2;
  // Sentinels around the window: the kernel must write exactly its slot and nothing else.
  const offset = 5;
  const reference = new Float32Array(elements + 2 * offset).fill(7);
  const candidate = new Float32Array(elements + 2 * offset).fill(7);
  resizeCropInto(source, window, interpolation, TABLES, reference, offset);
  simd!.resizeCropInto(source, window, interpolation, IMAGENET_RECIPE, candidate, offset);
  const a = new Uint32Array(reference.buffer);
  const b = new Uint32Array(candidate.buffer);
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return i;
  return -1;
}

function randomImage(next: () => number, width: number, height: number, channels: number): RgbPixels {
  const data = new Uint8Array(width * height * channels);
  // Half the images are noise (every value, every tap), half smooth with saturated runs (0 and 255 edges).
  const smooth = next() < 0.5;
  for (let i = 0; i < data.length; i++) {
    data[i] = smooth ? Math.max(0, Math.min(255, Math.round(128 + 200 * Math.sin(i / (37 + (i % 3)))))) : Math.floor(next() * 256);
  }
  return { data, width, height, channels };
}

describe('the WebAssembly SIMD kernel', () => {
  it('is the kernel this Node uses (Node ≥ 16.4 has WebAssembly SIMD)', () => {
    expect(wasmSimdSupported()).toBe(true);
    expect(simd).toBeInstanceOf(SimdResampler);
    expect(RESAMPLE_KERNEL).toBe('wasm-simd');
  });

  describe.each(INTERPOLATIONS)('%s', (interpolation) => {
    // A different seed per filter: each draws its own images, and bilinear keeps the draws it always had.
    const seed = (n: number): number => (interpolation === 'bilinear' ? n : n + 100);

    it('equals the TypeScript reference bit for bit on 300 random images, recipe geometry, 3 or 4 channels', () => {
      const next = rng(seed(11));
      for (let n = 0; n < 300; n++) {
        // Sizes from 1 px (upscaling ×256) to 1200 px, some very elongated.
        const width = 1 + Math.floor(next() ** 2 * 1200);
        const height = 1 + Math.floor(next() ** 2 * 1200);
        const channels = next() < 0.7 ? 3 : 4;
        const source = randomImage(next, width, height, channels);
        const diff = firstDifference(source, recipeGeometry(width, height), interpolation);
        expect({ width, height, channels, diff }).toEqual({ width, height, channels, diff: -1 });
      }
    });

    it('equals the reference on random resize targets, crop windows and window sizes (any size, not only multiples of 4)', () => {
      const next = rng(seed(12));
      for (let n = 0; n < 200; n++) {
        const width = 1 + Math.floor(next() * 700);
        const height = 1 + Math.floor(next() * 700);
        const cropSize = 1 + Math.floor(next() * 260);
        const resizedWidth = cropSize + Math.floor(next() * 300);
        const resizedHeight = cropSize + Math.floor(next() * 300);
        const cropTop = Math.floor(next() * (resizedHeight - cropSize + 1));
        const cropLeft = Math.floor(next() * (resizedWidth - cropSize + 1));
        const window = { resizedWidth, resizedHeight, cropTop, cropLeft, cropSize };
        const source = randomImage(next, width, height, next() < 0.5 ? 3 : 4);
        const diff = firstDifference(source, window, interpolation);
        expect({ width, height, ...window, diff }).toEqual({ width, height, ...window, diff: -1 });
      }
    });

    it('equals the reference on the recipes of the EfficientNet weights (256→224 up to 600→600)', () => {
      const next = rng(seed(14));
      // efficientnet_b0…b7 IMAGENET1K_V1 (torchvision/models/efficientnet.py) and efficientnet_v2_s/m.
      for (const [resizeSize, cropSize] of [
        [256, 224],
        [256, 240],
        [288, 288],
        [320, 300],
        [384, 380],
        [456, 456],
        [528, 528],
        [600, 600],
        [384, 384],
        [480, 480],
      ] as const) {
        const width = 100 + Math.floor(next() * 900);
        const height = 100 + Math.floor(next() * 900);
        const source = randomImage(next, width, height, 3);
        const diff = firstDifference(source, recipeGeometry(width, height, { resizeSize, cropSize }), interpolation);
        expect({ width, height, resizeSize, cropSize, diff }).toEqual({ width, height, resizeSize, cropSize, diff: -1 });
      }
    });

    it('maps every 8-bit level to the reference tables (the float32 normalisation is torch’s)', () => {
      // A 256×224 image whose column x holds the level x passes every level through unchanged at scale 1.
      const width = 256;
      const data = new Uint8Array(width * 224 * 3);
      for (let i = 0; i < data.length; i++) data[i] = Math.floor(i / 3) % width;
      const source = { data, width, height: 224, channels: 3 };
      for (const cropLeft of [0, 32]) {
        const window = { resizedWidth: 256, resizedHeight: 224, cropTop: 0, cropLeft, cropSize: 224 };
        expect(firstDifference(source, window, interpolation)).toBe(-1);
      }
    });

    it('handles images taller than one strip of copied rows (1920×1080, 4000×3000 RGBA)', () => {
      const next = rng(seed(13));
      for (const [width, height, channels] of [
        [1920, 1080, 3],
        [4000, 3000, 4],
      ] as const) {
        const source = randomImage(next, width, height, channels);
        expect(firstDifference(source, recipeGeometry(width, height), interpolation)).toBe(-1);
      }
    });

    it.each(readManifest().fixtures.map((f) => [f.file] as const))('%s: the decoded fixture gives the reference’s bits', async (file) => {
      const bytes = readFixture(file);
      const header = await readImageHeader(bytes, 40_000_000);
      const source = await decodeImage(bytes, header, 40_000_000);
      expect(firstDifference(source, recipeGeometry(source.width, source.height), interpolation)).toBe(-1);
    });
  });
});
