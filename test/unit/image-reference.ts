import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { inflateSync } from 'node:zlib';
import type { PreprocessRecipe } from '../../src/image/recipe.js';

/** Shared by the image-*.test.ts files: the fixtures made by test/fixtures/make_image_fixtures.py. */
export const IMAGE_FIXTURES = fileURLToPath(new URL('../fixtures/images/', import.meta.url));

export interface FixtureEntry {
  file: string;
  reference: string;
  note: string;
  size: [number, number];
  resized: [number, number];
  cropTopLeft: [number, number];
  tensorProbe: { index: number[]; value: number[] };
  tensorSum: number;
}

export interface FixtureManifest {
  recipe: { resize: number; crop: number; mean: number[]; std: number[] };
  fixtures: FixtureEntry[];
  bad: { file: string; code: string | null }[];
}

export function readManifest(): FixtureManifest {
  return JSON.parse(readFileSync(join(IMAGE_FIXTURES, 'references.json'), 'utf8')) as FixtureManifest;
}

/** PIL's bicubic references, made by test/fixtures/make_bicubic_fixtures.py from the fixtures above. */
export const BICUBIC_FIXTURES = join(IMAGE_FIXTURES, 'bicubic');

export interface BicubicEntry {
  /** An image of {@link IMAGE_FIXTURES}. */
  file: string;
  /** A key of {@link BicubicManifest.recipes}. */
  recipe: string;
  /** The PIL crop, a PNG in {@link BICUBIC_FIXTURES}. */
  reference: string;
  /** PNG, GIF or TIFF: decoded as PIL decodes it, so the whole preprocess must be bit-exact. */
  lossless: boolean;
  size: [number, number];
  resized: [number, number];
  cropTopLeft: [number, number];
  tensorProbe: { index: number[]; value: number[] };
}

export interface BicubicManifest {
  recipes: Record<string, PreprocessRecipe>;
  fixtures: BicubicEntry[];
}

export function readBicubicManifest(): BicubicManifest {
  return JSON.parse(readFileSync(join(BICUBIC_FIXTURES, 'references.json'), 'utf8')) as BicubicManifest;
}

export function readFixture(name: string): Uint8Array {
  return new Uint8Array(readFileSync(join(IMAGE_FIXTURES, name)));
}

/**
 * Decodes the reference crops, which PIL writes as 8-bit RGB, non-interlaced PNGs. A reader of our own
 * keeps the tests independent of sharp, the library under test.
 */
export function readReferencePng(name: string, dir = IMAGE_FIXTURES): { width: number; height: number; rgb: Uint8Array } {
  const bytes = readFileSync(join(dir, name));
  let at = 8;
  let width = 0;
  let height = 0;
  const idat: Buffer[] = [];
  while (at < bytes.length) {
    const length = bytes.readUInt32BE(at);
    const type = bytes.toString('latin1', at + 4, at + 8);
    const data = bytes.subarray(at + 8, at + 8 + length);
    if (type === 'IHDR') {
      width = data.readUInt32BE(0);
      height = data.readUInt32BE(4);
      if (data[8] !== 8 || data[9] !== 2 || data[12] !== 0) throw new Error(`${name}: expected 8-bit RGB non-interlaced PNG`);
    } else if (type === 'IDAT') {
      idat.push(data);
    }
    at += 12 + length;
  }
  const raw = inflateSync(Buffer.concat(idat));
  const stride = width * 3;
  const rgb = new Uint8Array(height * stride);
  for (let y = 0; y < height; y++) {
    const filter = raw[y * (stride + 1)]!;
    const line = raw.subarray(y * (stride + 1) + 1, (y + 1) * (stride + 1));
    for (let x = 0; x < stride; x++) {
      const a = x >= 3 ? rgb[y * stride + x - 3]! : 0;
      const b = y > 0 ? rgb[(y - 1) * stride + x]! : 0;
      const c = x >= 3 && y > 0 ? rgb[(y - 1) * stride + x - 3]! : 0;
      rgb[y * stride + x] = (line[x]! + unfilter(filter, a, b, c)) & 0xff;
    }
  }
  return { width, height, rgb };
}

function unfilter(filter: number, a: number, b: number, c: number): number {
  switch (filter) {
    case 0:
      return 0;
    case 1:
      return a;
    case 2:
      return b;
    case 3:
      return (a + b) >> 1;
    case 4: {
      const p = a + b - c;
      const pa = Math.abs(p - a);
      const pb = Math.abs(p - b);
      const pc = Math.abs(p - c);
      return pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
    }
    default:
      throw new Error(`unknown PNG filter ${filter}`);
  }
}

/**
 * Compares a normalised CHW tensor with a crop×crop RGB reference in 0..1 pixel units: the tensor is
 * mapped back with `x · std + mean`, so 1/255 means one 8-bit level.
 */
export function pixelDifference(
  tensor: Float32Array,
  offset: number,
  reference: Uint8Array,
  mean: readonly number[],
  std: readonly number[],
): { mean: number; max: number } {
  const plane = reference.length / 3;
  let sum = 0;
  let max = 0;
  for (let c = 0; c < 3; c++) {
    for (let i = 0; i < plane; i++) {
      const value = tensor[offset + c * plane + i]! * std[c]! + mean[c]!;
      const d = Math.abs(value - reference[i * 3 + c]! / 255);
      sum += d;
      if (d > max) max = d;
    }
  }
  return { mean: sum / reference.length, max };
}
