import { describe, expect, it } from 'vitest';
import { decodeImage, readImageHeader } from '../../src/image/decode.js';
import { normalizationTables } from '../../src/image/normalize.js';
import { type RgbPixels, resizeCropInto } from '../../src/image/pillow-resample.js';
import { IMAGENET_RECIPE } from '../../src/image/recipe.js';
import { recipeGeometry } from '../../src/image/recipe-geometry.js';
import { loadSimdResampler, RESAMPLE_KERNEL } from '../../src/image/resample-kernel.js';
import { SimdResampler, wasmSimdSupported } from '../../src/image/simd-resample.js';
import { mulberry32 } from '../helpers/random.js';
import { readFixture, readManifest } from './image-reference.js';

const TABLES = normalizationTables(IMAGENET_RECIPE);
const simd = loadSimdResampler();

/** Seeded: every run draws the same images, so a failure names a reproducible case. */
const rng = mulberry32;

interface Case {
  source: RgbPixels;
  resizedWidth: number;
  resizedHeight: number;
  top: number;
  left: number;
  size: number;
}

/** Both kernels on one case; returns the first differing index, or -1 when every bit agrees. */
function firstDifference(c: Case): number {
  const elements = 3 * c.size * c.size;
  // Sentinels around the window: the kernel must write exactly its slot and nothing else.
  const offset = 5;
  const reference = new Float32Array(elements + 2 * offset).fill(7);
  const candidate = new Float32Array(elements + 2 * offset).fill(7);
  resizeCropInto(c.source, c.resizedWidth, c.resizedHeight, c.top, c.left, c.size, TABLES, reference, offset);
  simd!.resizeCropInto(c.source, c.resizedWidth, c.resizedHeight, c.top, c.left, c.size, IMAGENET_RECIPE, candidate, offset);
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

  it('equals the TypeScript reference bit for bit on 300 random images, recipe geometry, 3 or 4 channels', () => {
    const next = rng(11);
    for (let n = 0; n < 300; n++) {
      // Sizes from 1 px (upscaling ×256) to 1200 px, some very elongated.
      const width = 1 + Math.floor(next() ** 2 * 1200);
      const height = 1 + Math.floor(next() ** 2 * 1200);
      const channels = next() < 0.7 ? 3 : 4;
      const source = randomImage(next, width, height, channels);
      const g = recipeGeometry(width, height);
      const diff = firstDifference({
        source,
        resizedWidth: g.resizedWidth,
        resizedHeight: g.resizedHeight,
        top: g.cropTop,
        left: g.cropLeft,
        size: g.cropSize,
      });
      expect({ width, height, channels, diff }).toEqual({ width, height, channels, diff: -1 });
    }
  });

  it('equals the reference on random resize targets, crop windows and window sizes (multiples of 4)', () => {
    const next = rng(12);
    for (let n = 0; n < 200; n++) {
      const width = 1 + Math.floor(next() * 700);
      const height = 1 + Math.floor(next() * 700);
      const size = 4 * (1 + Math.floor(next() * 64));
      const resizedWidth = size + Math.floor(next() * 300);
      const resizedHeight = size + Math.floor(next() * 300);
      const top = Math.floor(next() * (resizedHeight - size + 1));
      const left = Math.floor(next() * (resizedWidth - size + 1));
      const source = randomImage(next, width, height, next() < 0.5 ? 3 : 4);
      const diff = firstDifference({ source, resizedWidth, resizedHeight, top, left, size });
      expect({ width, height, resizedWidth, resizedHeight, top, left, size, diff }).toEqual({
        width,
        height,
        resizedWidth,
        resizedHeight,
        top,
        left,
        size,
        diff: -1,
      });
    }
  });

  it('maps every 8-bit level to the reference tables (the float32 normalisation is torch’s)', () => {
    // A 256×224 image whose column x holds the level x passes every level through unchanged at scale 1.
    const width = 256;
    const data = new Uint8Array(width * 224 * 3);
    for (let i = 0; i < data.length; i++) data[i] = Math.floor(i / 3) % width;
    const source = { data, width, height: 224, channels: 3 };
    for (const left of [0, 32])
      expect(firstDifference({ source, resizedWidth: 256, resizedHeight: 224, top: 0, left, size: 224 })).toBe(-1);
  });

  it('handles images taller than one strip of copied rows (1920×1080, 4000×3000 RGBA)', () => {
    const next = rng(13);
    for (const [width, height, channels] of [
      [1920, 1080, 3],
      [4000, 3000, 4],
    ] as const) {
      const source = randomImage(next, width, height, channels);
      const g = recipeGeometry(width, height);
      expect(
        firstDifference({
          source,
          resizedWidth: g.resizedWidth,
          resizedHeight: g.resizedHeight,
          top: g.cropTop,
          left: g.cropLeft,
          size: 224,
        }),
      ).toBe(-1);
    }
  });

  it.each(readManifest().fixtures.map((f) => [f.file] as const))('%s: the decoded fixture gives the reference’s bits', async (file) => {
    const bytes = readFixture(file);
    const header = await readImageHeader(bytes, 40_000_000);
    const source = await decodeImage(bytes, header, 40_000_000);
    const g = recipeGeometry(source.width, source.height);
    expect(
      firstDifference({
        source,
        resizedWidth: g.resizedWidth,
        resizedHeight: g.resizedHeight,
        top: g.cropTop,
        left: g.cropLeft,
        size: g.cropSize,
      }),
    ).toBe(-1);
  });

  it('leaves sizes it cannot vectorise to the reference', () => {
    const source = { data: new Uint8Array(12), width: 2, height: 2, channels: 3 };
    expect(SimdResampler.supports(source, 224)).toBe(true);
    expect(SimdResampler.supports(source, 222)).toBe(false);
    expect(SimdResampler.supports({ ...source, channels: 2 }, 224)).toBe(false);
  });
});
