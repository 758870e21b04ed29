import { readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import sharp from 'sharp';
import { readSafetensors } from '../../src/weights/safetensors.js';
import type { StateDict } from '../../src/weights/types.js';

/** Reader for test/fixtures/int8 (made by test/fixtures/make_int8_fixtures.py, whose docstring defines the format). */
export interface ShapesFixture {
  classNames: string[];
  imageSize: number;
  upsample: number;
  mean: number[];
  std: number[];
  heldoutCount: number;
  calibrationCount: number;
  heldoutLabels: number[];
  fp32Accuracy: number;
  logits: number[][];
}

export const INT8_FIXTURES = new URL('../fixtures/int8/', import.meta.url);

export function loadShapesFixture(dir: URL = INT8_FIXTURES): ShapesFixture {
  return JSON.parse(readFileSync(new URL('shapes.json', dir), 'utf8')) as ShapesFixture;
}

export function loadShapesStateDict(dir: URL = INT8_FIXTURES): StateDict {
  return readSafetensors(new Uint8Array(readFileSync(new URL('shapes-resnet18.safetensors', dir))));
}

/**
 * The script's `to_input`: each 32×32 HWC uint8 image repeated 7×7 to 224×224, /255, ImageNet mean/std, CHW,
 * with PyTorch's float32 rounding at each step.
 */
export function loadShapesImages(set: 'heldout' | 'calibration', fixture: ShapesFixture, dir: URL = INT8_FIXTURES): Float32Array[] {
  const raw = gunzipSync(readFileSync(new URL(`${set}.u8.gz`, dir)));
  const base = fixture.imageSize;
  const size = base * fixture.upsample;
  const perImage = base * base * 3;
  const count = raw.length / perImage;
  const images: Float32Array[] = [];
  for (let n = 0; n < count; n++) {
    const out = new Float32Array(3 * size * size);
    for (let c = 0; c < 3; c++) {
      const mean = Math.fround(fixture.mean[c] as number);
      const std = Math.fround(fixture.std[c] as number);
      for (let h = 0; h < size; h++) {
        for (let w = 0; w < size; w++) {
          const pixel = raw[n * perImage + (Math.floor(h / fixture.upsample) * base + Math.floor(w / fixture.upsample)) * 3 + c] as number;
          out[c * size * size + h * size + w] = (Math.fround(pixel / 255) - mean) / std;
        }
      }
    }
    images.push(out);
  }
  return images;
}

/**
 * A held-out red circle of the fixture (class 0), 7× upscaled and widened with its own edge pixels: a 364 × 224
 * landscape PNG whose centre crop the shapes model classifies, for the page's "Show where it looked" tests.
 */
export async function shapesCirclePhoto(dir: URL = INT8_FIXTURES): Promise<Buffer> {
  const shapes = loadShapesFixture(dir);
  const index = shapes.heldoutLabels.indexOf(0);
  const raw = gunzipSync(readFileSync(new URL('heldout.u8.gz', dir)));
  const side = shapes.imageSize;
  const pixels = raw.subarray(index * side * side * 3, (index + 1) * side * side * 3);
  const square = await sharp(pixels, { raw: { width: side, height: side, channels: 3 } })
    .resize(224, 224, { kernel: 'nearest' })
    .png()
    .toBuffer();
  return sharp(square).extend({ left: 70, right: 70, extendWith: 'copy' }).png().toBuffer();
}
