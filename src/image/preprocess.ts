import { instanceOf, integerInRange, integerOption } from '../guards.js';
import { decodeImage, type ImageHeader, type Reduction, readImageHeader } from './decode.js';
import { MAX_PIXELS } from './limits.js';
import { IMAGENET_RECIPE, inputElements, type PreprocessRecipe } from './recipe.js';
import { recipeGeometry } from './recipe-geometry.js';
import { resampleInto } from './resample-kernel.js';

export interface PreprocessOptions {
  /** Largest accepted width × height, checked from the header before decoding. Default and range: `MAX_PIXELS` (40 000 000, ≥ 1). */
  maxPixels?: number;
  /** The weights' transforms (resize, crop, filter, mean, std). Default {@link IMAGENET_RECIPE} (ResNet-18 IMAGENET1K_V1). */
  recipe?: PreprocessRecipe;
}

/**
 * Large JPEGs take the fast path once their shorter side is at least this many times the resize size
 * (1024 px for ResNet-18's 256): below that, the exact path costs ≤ 25 ms and the fast one saves nothing
 * (1024×768: 20 ms exact vs 26 ms fast, measured).
 */
const FAST_PATH_MIN_SHRINK = 4;
/**
 * WebP has shrink-on-load too (libwebp's scaled decode), but its lossy chroma is then resampled otherwise:
 * measured mean |Δ| against the exact path 0.26–0.33/255 at q75 for a shorter side of 1680–2200 px, and
 * 0.16–0.18/255 (q75–q90; lossless 0.13) from 3150 px on, within the JPEG fast path's bound. Past 3072 px it
 * is also where decoding in full costs most: a 6000×6000 WebP takes 108 MB and 1.1 s in full, 1.7 MB and
 * 0.16 s reduced. Measured with bench/webp-fast-path.ts.
 */
const WEBP_FAST_PATH_MIN_SHRINK = 12;
/**
 * Fast path: libvips (JPEG shrink-on-load, then its linear kernel) reduces to this multiple of the
 * resized size, and Pillow's filter, exactly, does the last step. Measured mean |Δ| against PIL on
 * synthetic photos from 1400×1050 to 5600×4200: 0.11–0.25/255 with ×3, against 0.88/255 with ×2 and
 * 0.30/255 with ×4 (4000×3000); libvips alone down to 256 reached 2.08/255 (2766×2075). Time for a
 * 12 MP JPEG: ~40 ms instead of ~120–150 ms exact.
 */
const FAST_PATH_MARGIN = 3;

/** The libvips pre-reduction for the fast path, or `undefined` to decode at full size (exact). */
export function fastPathReduction(header: ImageHeader, recipe: PreprocessRecipe = IMAGENET_RECIPE): Reduction | undefined {
  const { format, metadata, width, height } = header;
  // Only plain JPEGs and opaque WebPs: that is where shrink-on-load exists, and CMYK or alpha would change
  // what libvips resizes (ink values, premultiplied colour: sharp drops alpha only after resizing, measured
  // 26.7/255 on an RGBA PNG) compared with PIL's convert('RGB') then resize. For 2400×1800 PNG and TIFF the
  // libvips pre-reduction saved at most ~20 ms (decoding dominates), so they stay exact.
  const minShrink = format === 'jpeg' ? FAST_PATH_MIN_SHRINK : format === 'webp' && !metadata.hasAlpha ? WEBP_FAST_PATH_MIN_SHRINK : 0;
  if (minShrink === 0 || (metadata.space !== 'srgb' && metadata.space !== 'b-w')) return undefined;
  if (Math.min(width, height) < minShrink * recipe.resizeSize) return undefined;
  const g = recipeGeometry(width, height, recipe);
  return { width: g.resizedWidth * FAST_PATH_MARGIN, height: g.resizedHeight * FAST_PATH_MARGIN };
}

/**
 * The bytes of pixels decoding this image puts in memory at once: width × height × channels of what libvips
 * hands over (the reduced size on the fast path; RGB, or 4 channels with alpha or CMYK), known from the header.
 * The classifier holds decodes in flight under a budget of these.
 */
export function decodedBytes(header: ImageHeader, recipe: PreprocessRecipe = IMAGENET_RECIPE): number {
  const size = fastPathReduction(header, recipe) ?? header;
  const channels = header.metadata.hasAlpha || header.metadata.space === 'cmyk' ? 4 : 3;
  return size.width * size.height * channels;
}

/**
 * Runs a torchvision weights' `transforms()` — `options.recipe`, by default ResNet-18 IMAGENET1K_V1's
 * ({@link IMAGENET_RECIPE}) — on an encoded image and writes the 3×crop×crop normalised CHW tensor into `out` at
 * `offset` (e.g. one slot of a batch tensor). Only `out[offset … offset + inputElements(recipe) - 1]` is written;
 * no input-sized tensor is allocated.
 *
 * Matches `transforms(PIL.Image.open(f).convert('RGB'))`: bit-exact on the lossless PNG, GIF and TIFF fixtures
 * (palette, greyscale, 16-bit, RGBA included), with the bilinear and the bicubic filter, and within mean
 * |Δ| ≤ 0.5/255 on the lossy JPEG (CMYK included) and WebP fixtures, whose decoders round differently from PIL's
 * (test/unit/image-preprocess.test.ts, image-bicubic.test.ts). EXIF orientation is applied first, as
 * ImageOps.exif_transpose would; JPEGs with a shorter side ≥ 4 × the resize size take a faster path within mean
 * |Δ| ≤ 0.25/255 (measured); AVIF 4:2:0 differs by ~1/255 (chroma upsampling).
 *
 * @param bytes - the encoded file; its format is judged from its content only.
 * @param out - destination, at least `offset + inputElements(recipe)` long.
 * @param offset - first element to write.
 * @param options.maxPixels - default `MAX_PIXELS.default`.
 * @param options.recipe - default {@link IMAGENET_RECIPE}.
 * @throws ResnetServeError `FILE_EMPTY`, `UNSUPPORTED_MEDIA_TYPE`, `IMAGE_TOO_LARGE` (from the header, before
 *   decoding), `IMAGE_CORRUPT`, or `INVALID_ARGUMENT` for bytes or `out` of the wrong type or a bad `offset`/`maxPixels`.
 * @example
 *   const batch = new Float32Array(4 * INPUT_ELEMENTS);
 *   await preprocessInto(jpegBytes, batch, 2 * INPUT_ELEMENTS); // fills the third slot
 */
export async function preprocessInto(bytes: Uint8Array, out: Float32Array, offset: number, options?: PreprocessOptions): Promise<void> {
  instanceOf('bytes', bytes, Uint8Array, 'a Uint8Array or Buffer');
  instanceOf('out', out, Float32Array, 'a Float32Array');
  const recipe = options?.recipe ?? IMAGENET_RECIPE;
  integerInRange('offset', offset, 0, out.length - inputElements(recipe));
  const maxPixels = integerOption('maxPixels', options?.maxPixels, MAX_PIXELS);
  await preprocessWithHeaderInto(bytes, await readImageHeader(bytes, maxPixels), out, offset, maxPixels, recipe);
}

/**
 * The decoding half of {@link preprocessInto}, for a caller that has read the header itself to decide how to
 * schedule the decode (the classifier lets large images decode alone). `header` must come from
 * `readImageHeader(bytes, maxPixels)`; `offset` must already be checked.
 */
export async function preprocessWithHeaderInto(
  bytes: Uint8Array,
  header: ImageHeader,
  out: Float32Array,
  offset: number,
  maxPixels: number,
  recipe: PreprocessRecipe = IMAGENET_RECIPE,
): Promise<void> {
  const pixels = await decodeImage(bytes, header, maxPixels, fastPathReduction(header, recipe));
  // On the fast path the pixels are FAST_PATH_MARGIN × the resized size, whose recipe geometry is the
  // original's: the short side 3s goes to s, the long one to int(s · 3l / 3s) = l, and the crop offsets follow.
  const g = recipeGeometry(pixels.width, pixels.height, recipe);
  resampleInto(pixels, g, recipe, out, offset);
}

/**
 * {@link preprocessInto} into a fresh tensor.
 *
 * @returns `Float32Array` of `inputElements(recipe)` (3×224×224 by default) normalised CHW values.
 * @example
 *   const x = await preprocess(readFileSync('test/fixtures/images/photo-500x375.jpg'));
 *   // x.length === 150528; x[0] === -0.4568028… (R, top-left), x[50176] === -0.5826330… (G, top-left)
 */
export async function preprocess(bytes: Uint8Array, options?: PreprocessOptions): Promise<Float32Array> {
  const out = new Float32Array(inputElements(options?.recipe ?? IMAGENET_RECIPE));
  await preprocessInto(bytes, out, 0, options);
  return out;
}
