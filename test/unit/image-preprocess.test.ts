import { afterAll, describe, expect, it } from 'vitest';
import type { ResnetServeError } from '../../src/errors.js';
import { preprocess, preprocessInto } from '../../src/image/index.js';
import { IMAGENET_RECIPE, INPUT_ELEMENTS } from '../../src/image/recipe.js';
import { rejectedError } from '../helpers/errors.js';
import { type FixtureEntry, pixelDifference, readFixture, readManifest, readReferencePng } from './image-reference.js';

const manifest = readManifest();
const { mean, std } = IMAGENET_RECIPE;

/** The agreed budget: mean |Δ| against torchvision+PIL of at most half an 8-bit level. */
const MEAN_BOUND = 0.5 / 255;
/**
 * AVIF 4:2:0 is the one documented exception: sharp's libheif and PIL's libavif upsample chroma
 * differently (mean 1.33/255 before resizing, up to 71 levels at colour edges); 1.02/255 measured after.
 */
const AVIF_420_BOUND = 1.25 / 255;
/** Lossless inputs go through the exact path, whose Pillow resample and float32 normalisation are bit-exact. */
const LOSSLESS = /\.(png|gif|tiff)$/;

function boundFor(fixture: FixtureEntry): number {
  return fixture.file === 'photo-320x240.avif' ? AVIF_420_BOUND : MEAN_BOUND;
}

/** Bitwise equality of two float arrays (vitest's deep toEqual walks 150 528 elements slowly). */
function sameFloats(a: Float32Array, b: Float32Array): boolean {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));
}

const errorOf = (promise: Promise<unknown>): Promise<ResnetServeError> => rejectedError(() => promise);

describe('preprocess against torchvision + PIL references', () => {
  const measured: string[] = [];
  afterAll(() => {
    console.info(`mean / max |Δ| per fixture, in 8-bit levels:\n${measured.join('\n')}`);
  });

  it.each(manifest.fixtures.map((f) => [f.file, f] as const))('%s stays within the mean |Δ| bound', async (_name, fixture) => {
    const tensor = await preprocess(readFixture(fixture.file));
    const reference = readReferencePng(fixture.reference);
    expect([reference.width, reference.height]).toEqual([224, 224]);
    const diff = pixelDifference(tensor, 0, reference.rgb, mean, std);
    measured.push(`  ${fixture.file.padEnd(30)} ${(diff.mean * 255).toFixed(3)} / ${(diff.max * 255).toFixed(1)}`);
    expect(diff.mean).toBeLessThanOrEqual(boundFor(fixture));
    if (LOSSLESS.test(fixture.file)) expect(diff.max).toBeLessThan(1e-6);
  });

  it.each(manifest.fixtures.filter((f) => LOSSLESS.test(f.file)).map((f) => [f.file, f] as const))(
    '%s: normalised floats equal torch float32 values at the probed indices',
    async (_name, fixture) => {
      const tensor = await preprocess(readFixture(fixture.file));
      fixture.tensorProbe.index.forEach((index, i) => {
        expect(tensor[index]).toBe(Math.fround(fixture.tensorProbe.value[i]!));
      });
    },
  );
});

describe('preprocess output layout', () => {
  it('returns INPUT_ELEMENTS floats laid out CHW and normalised with the recipe mean and std', async () => {
    const tensor = await preprocess(readFixture('tiny-150x100.png'));
    expect(tensor).toBeInstanceOf(Float32Array);
    expect(tensor.length).toBe(INPUT_ELEMENTS);
    const { rgb } = readReferencePng('tiny-150x100.ref.png');
    const plane = 224 * 224;
    for (const [y, x] of [
      [0, 0],
      [0, 223],
      [100, 17],
      [223, 223],
    ] as const) {
      for (let c = 0; c < 3; c++) {
        const expected = (rgb[(y * 224 + x) * 3 + c]! / 255 - mean[c]!) / std[c]!;
        expect(tensor[c * plane + y * 224 + x]).toBeCloseTo(expected, 5);
      }
    }
  });

  it('upscales an image smaller than 224 (150x100 → 384x256)', async () => {
    const fixture = manifest.fixtures.find((f) => f.file === 'tiny-150x100.png')!;
    expect(fixture.resized).toEqual([384, 256]);
    const tensor = await preprocess(readFixture(fixture.file));
    expect(pixelDifference(tensor, 0, readReferencePng(fixture.reference).rgb, mean, std).max).toBeLessThan(1e-6);
  });

  it('a file named .jpg containing PNG bytes is read as the PNG it is', async () => {
    const renamed = await preprocess(readFixture('png-named.jpg'));
    const original = await preprocess(readFixture('tiny-150x100.png'));
    expect(sameFloats(renamed, original)).toBe(true);
  });
});

describe('preprocessInto', () => {
  it('writes one image at the offset of a batch buffer and leaves every other element alone', async () => {
    const bytes = readFixture('photo-500x375.jpg');
    const offset = INPUT_ELEMENTS + 7;
    const batch = new Float32Array(3 * INPUT_ELEMENTS).fill(42);
    await preprocessInto(bytes, batch, offset);
    const expected = await preprocess(bytes);
    expect(sameFloats(batch.subarray(offset, offset + INPUT_ELEMENTS), expected)).toBe(true);
    expect(batch.subarray(0, offset).every((v) => v === 42)).toBe(true);
    expect(batch.subarray(offset + INPUT_ELEMENTS).every((v) => v === 42)).toBe(true);
  });

  it('an offset that does not leave room for one image → INVALID_ARGUMENT', async () => {
    const batch = new Float32Array(INPUT_ELEMENTS);
    expect((await errorOf(preprocessInto(readFixture('tiny-150x100.png'), batch, 1))).code).toBe('INVALID_ARGUMENT');
    expect((await errorOf(preprocessInto(readFixture('tiny-150x100.png'), batch, -1))).code).toBe('INVALID_ARGUMENT');
    expect((await errorOf(preprocessInto(readFixture('tiny-150x100.png'), batch, 0.5))).code).toBe('INVALID_ARGUMENT');
  });

  it('a non-positive maxPixels → INVALID_ARGUMENT', async () => {
    const error = await errorOf(preprocess(readFixture('tiny-150x100.png'), { maxPixels: 0 }));
    expect(error.code).toBe('INVALID_ARGUMENT');
  });
});

describe('preprocess failures', () => {
  it.each(manifest.bad.filter((b) => b.code !== null).map((b) => [b.file, b.code] as const))('%s → %s', async (file, code) => {
    expect((await errorOf(preprocess(readFixture(file)))).code).toBe(code);
  });

  it('a truncated JPEG → IMAGE_CORRUPT carrying the decoder error as its cause', async () => {
    const error = await errorOf(preprocess(readFixture('truncated.jpg')));
    expect(error.code).toBe('IMAGE_CORRUPT');
    expect(error.cause).toBeInstanceOf(Error);
  });

  it('a 30000x30000 header over a tiny body → IMAGE_TOO_LARGE with the dimensions from the header', async () => {
    const error = await errorOf(preprocess(readFixture('huge-header-30000x30000.png')));
    expect(error.code).toBe('IMAGE_TOO_LARGE');
    expect(error.details).toMatchObject({ width: 30000, height: 30000, pixels: 900_000_000 });
  });

  it('an image over a caller-chosen maxPixels → IMAGE_TOO_LARGE', async () => {
    const error = await errorOf(preprocess(readFixture('photo-500x375.jpg'), { maxPixels: 500 * 375 - 1 }));
    expect(error.code).toBe('IMAGE_TOO_LARGE');
    await expect(preprocess(readFixture('photo-500x375.jpg'), { maxPixels: 500 * 375 })).resolves.toHaveLength(INPUT_ELEMENTS);
  });

  it('a HEIC (HEVC) file, recognised but not decodable by the bundled sharp → UNSUPPORTED_MEDIA_TYPE', async () => {
    const heic = new Uint8Array(64);
    heic.set(Buffer.from('\0\0\0\x18ftypheic\0\0\0\0mif1heic', 'latin1'));
    expect((await errorOf(preprocess(heic))).code).toBe('UNSUPPORTED_MEDIA_TYPE');
  });

  it('zero bytes → FILE_EMPTY', async () => {
    expect((await errorOf(preprocess(new Uint8Array(0)))).code).toBe('FILE_EMPTY');
  });
});
