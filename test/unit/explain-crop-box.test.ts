import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { preprocess, readImageHeader } from '../../src/image/index.js';
import { IMAGENET_RECIPE } from '../../src/image/recipe.js';
import { type CropBox, cropBox } from '../../src/image/recipe-geometry.js';

const GRID = 7;
const CELL = IMAGENET_RECIPE.cropSize / GRID;
/** Marker colours for three corner cells; any rotation or mirror error moves them to other cells. */
const MARKERS = [
  { row: 0, col: 0, rgb: [230, 20, 20] },
  { row: 0, col: 6, rgb: [20, 230, 20] },
  { row: 6, col: 0, rgb: [20, 20, 230] },
] as const;
const GREY = 128;

/** An upright RGB image, grey, with a square of each marker colour centred on its cell as `box` places it. */
function markedPixels(width: number, height: number, box: CropBox): Buffer {
  const pixels = Buffer.alloc(width * height * 3, GREY);
  // A quarter of a cell wide: a box off by a quarter cell misses the sampled centre.
  const half = Math.min(box.width, box.height) / GRID / 8;
  for (const { row, col, rgb } of MARKERS) {
    const cx = box.left + ((col + 0.5) * box.width) / GRID;
    const cy = box.top + ((row + 0.5) * box.height) / GRID;
    for (let y = Math.ceil(cy - half); y < cy + half; y++) {
      for (let x = Math.ceil(cx - half); x < cx + half; x++) {
        pixels.set(rgb, (y * width + x) * 3);
      }
    }
  }
  return pixels;
}

/** The model input's RGB (0..255) at the centre of grid cell (row, col). */
function inputColourAt(tensor: Float32Array, row: number, col: number): number[] {
  const size = IMAGENET_RECIPE.cropSize;
  const y = Math.floor((row + 0.5) * CELL);
  const x = Math.floor((col + 0.5) * CELL);
  return [0, 1, 2].map(
    (c) =>
      ((tensor[c * size * size + y * size + x] as number) * (IMAGENET_RECIPE.std[c] as number) + (IMAGENET_RECIPE.mean[c] as number)) * 255,
  );
}

async function expectMarkersOnTheirCells(bytes: Buffer, uprightWidth: number, uprightHeight: number, tolerance: number): Promise<void> {
  const header = await readImageHeader(bytes, 40_000_000);
  expect([header.width, header.height]).toEqual([uprightWidth, uprightHeight]);
  const tensor = await preprocess(bytes);
  for (const { row, col, rgb } of MARKERS) {
    inputColourAt(tensor, row, col).forEach((v, c) => {
      expect(Math.abs(v - (rgb[c] as number)), `cell ${row},${col} channel ${c}`).toBeLessThanOrEqual(tolerance);
    });
  }
  // The centre and the fourth corner stay grey.
  for (const [row, col] of [
    [3, 3],
    [6, 6],
  ] as const) {
    for (const v of inputColourAt(tensor, row, col)) expect(Math.abs(v - GREY)).toBeLessThanOrEqual(tolerance);
  }
}

describe('cropBox: the part of the upright image the 7 × 7 map covers', () => {
  it.each([
    ['landscape', 475, 300],
    ['portrait', 301, 477],
    ['square', 256, 256],
    ['small square', 200, 200],
  ])('%s %i×%i: markers drawn in the box cells land in the same cells of the model input', async (_name, width, height) => {
    const png = await sharp(markedPixels(width, height, cropBox(width, height)), { raw: { width, height, channels: 3 } })
      .png()
      .toBuffer();
    await expectMarkersOnTheirCells(png, width, height, 2);
  });

  it('EXIF orientation 6: the box is in the upright (displayed) image, not the stored one', async () => {
    const [width, height] = [300, 400];
    const upright = sharp(markedPixels(width, height, cropBox(width, height)), { raw: { width, height, channels: 3 } });
    // Orientation 6 means "rotate 90° clockwise to display", so the stored pixels are the upright ones turned back.
    const stored = await sharp(await upright.rotate(270).png().toBuffer())
      .withMetadata({ orientation: 6 })
      .jpeg({ quality: 95 })
      .toBuffer();
    expect((await sharp(stored).metadata()).width).toBe(height);
    await expectMarkersOnTheirCells(stored, width, height, 40);
  });

  it('a large JPEG on the shrink-on-load fast path keeps the same geometry', async () => {
    const [width, height] = [2400, 1800];
    const jpeg = await sharp(markedPixels(width, height, cropBox(width, height)), { raw: { width, height, channels: 3 } })
      .jpeg({ quality: 95 })
      .toBuffer();
    await expectMarkersOnTheirCells(jpeg, width, height, 40);
  });

  it('scales the crop back by each axis’ own resize factor', () => {
    // 500×375 → resized 341×256 (int(256·500/375)); crop left round(58.5) = 58 (half to even), top 16.
    const box = cropBox(500, 375);
    expect(box.left).toBeCloseTo((58 * 500) / 341, 10);
    expect(box.top).toBeCloseTo((16 * 375) / 256, 10);
    expect(box.width).toBeCloseTo((224 * 500) / 341, 10);
    expect(box.height).toBeCloseTo((224 * 375) / 256, 10);
  });
});
