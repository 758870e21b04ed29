import { DEFAULTS, IMAGENET_RECIPE, INPUT_ELEMENTS } from '../config.js';
import { invalidArgument } from '../errors.js';
import { decodeImage } from './decode.js';
import { normalizationTables } from './normalize.js';
import { resizeCropInto } from './pillow-resample.js';
import { recipeGeometry } from './recipe-geometry.js';

export interface PreprocessOptions {
  /** Largest accepted width × height, checked from the header before decoding. Default `DEFAULTS.maxPixels` (40 000 000). */
  maxPixels?: number;
}

const TABLES = normalizationTables(IMAGENET_RECIPE);

function checkMaxPixels(options: PreprocessOptions | undefined): number {
  const maxPixels = options?.maxPixels ?? DEFAULTS.maxPixels;
  if (!Number.isSafeInteger(maxPixels) || maxPixels < 1) throw invalidArgument('maxPixels', 'a positive integer', maxPixels);
  return maxPixels;
}

/**
 * Runs torchvision's `ResNet18_Weights.IMAGENET1K_V1.transforms()` on an encoded image and writes the
 * 3×224×224 normalised CHW tensor into `out` at `offset` (e.g. one slot of a batch tensor). Only
 * `out[offset … offset + INPUT_ELEMENTS - 1]` is written; no input-sized tensor is allocated.
 *
 * Matches `transforms(PIL.Image.open(f).convert('RGB'))` exactly (0 of 255 difference on the JPEG, PNG,
 * WebP, GIF, TIFF, palette, greyscale, RGBA and CMYK fixtures), except that EXIF orientation is applied
 * first, as ImageOps.exif_transpose would.
 *
 * @param bytes - the encoded file; its format is judged from its content only.
 * @param out - destination, at least `offset + INPUT_ELEMENTS` long.
 * @param offset - first element to write.
 * @param options.maxPixels - default `DEFAULTS.maxPixels`.
 * @throws ResnetServeError `FILE_EMPTY`, `UNSUPPORTED_MEDIA_TYPE`, `IMAGE_TOO_LARGE` (from the header, before
 *   decoding), `IMAGE_CORRUPT`, or `INVALID_ARGUMENT` for a bad `offset`/`maxPixels`.
 * @example
 *   const batch = new Float32Array(4 * INPUT_ELEMENTS);
 *   await preprocessInto(jpegBytes, batch, 2 * INPUT_ELEMENTS); // fills the third slot
 */
export async function preprocessInto(
  bytes: Uint8Array,
  out: Float32Array,
  offset: number,
  options?: PreprocessOptions,
): Promise<void> {
  if (!Number.isSafeInteger(offset) || offset < 0 || offset + INPUT_ELEMENTS > out.length) {
    throw invalidArgument('offset', `an integer from 0 to ${out.length - INPUT_ELEMENTS}`, offset);
  }
  const maxPixels = checkMaxPixels(options);
  const pixels = await decodeImage(bytes, maxPixels);
  const g = recipeGeometry(pixels.width, pixels.height, IMAGENET_RECIPE);
  resizeCropInto(pixels, g.resizedWidth, g.resizedHeight, g.cropTop, g.cropLeft, g.cropSize, TABLES, out, offset);
}

/**
 * {@link preprocessInto} into a fresh tensor.
 *
 * @returns `Float32Array` of `INPUT_ELEMENTS` (3×224×224) normalised CHW values.
 * @example
 *   const x = await preprocess(readFileSync('cat.jpg')); // x.length === 150528; x[0] ≈ -0.93 (R, top-left)
 */
export async function preprocess(bytes: Uint8Array, options?: PreprocessOptions): Promise<Float32Array> {
  const out = new Float32Array(INPUT_ELEMENTS);
  await preprocessInto(bytes, out, 0, options);
  return out;
}
