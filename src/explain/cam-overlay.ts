import { compositePng } from '../image/composite.js';
import { decodeImage, readImageHeader } from '../image/decode.js';
import type { CropBox } from '../image/recipe-geometry.js';
import { heatmapRgba, OUTSIDE_DIM } from './heatmap.js';

/** Overlays are written at most this wide or tall: enough to see the map, small enough to open anywhere. */
export const OVERLAY_MAX_SIDE = 1024;

/**
 * The photo as the user sees it (EXIF orientation applied, decoded exactly as for the model), dimmed outside the
 * part the model saw, with the class's heatmap (viridis, bilinear, HEATMAP_ALPHA) over that part: a PNG.
 *
 * @param crop - the box the map covers, in the upright image's pixels (`Explanation.crop`).
 * @param map - 7 × 7 values in 0..1.
 * @param maxPixels - the decode limit the classifier applied to the same bytes.
 * @throws ResnetServeError IMAGE_CORRUPT, IMAGE_TOO_LARGE, UNSUPPORTED_MEDIA_TYPE, as decoding does.
 */
export async function renderCamOverlay(bytes: Uint8Array, crop: CropBox, map: Float32Array, maxPixels: number): Promise<Buffer> {
  const header = await readImageHeader(bytes, maxPixels);
  const pixels = await decodeImage(bytes, header, maxPixels);
  const scale = Math.min(1, OVERLAY_MAX_SIDE / Math.max(pixels.width, pixels.height));
  const width = Math.max(1, Math.round(pixels.width * scale));
  const height = Math.max(1, Math.round(pixels.height * scale));
  // Whole pixels of the scaled image, kept inside it.
  const left = Math.max(0, Math.round(crop.left * scale));
  const top = Math.max(0, Math.round(crop.top * scale));
  const boxWidth = Math.max(1, Math.min(width, Math.round((crop.left + crop.width) * scale)) - left);
  const boxHeight = Math.max(1, Math.min(height, Math.round((crop.top + crop.height) * scale)) - top);

  const veil = new Uint8Array(width * height * 4);
  const dim = Math.round(OUTSIDE_DIM * 255);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const inside = x >= left && x < left + boxWidth && y >= top && y < top + boxHeight;
      if (!inside) veil[(y * width + x) * 4 + 3] = dim;
    }
  }
  return compositePng(pixels, { width, height }, [
    { data: veil, width, height },
    { data: heatmapRgba(map, boxWidth, boxHeight), width: boxWidth, height: boxHeight, left, top },
  ]);
}
