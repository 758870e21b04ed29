import { DECODABLE, FORMAT_NAMES, type ImageFormat } from '../image/formats.js';
import { fillTransparent, gifTransparentColour } from '../image/gif-transparency.js';
import { IMAGENET_RECIPE, inputElements, type PreprocessRecipe } from '../image/recipe.js';
import { recipeGeometry } from '../image/recipe-geometry.js';
import { SimdResampler, wasmSimdSupported } from '../image/simd-resample.js';
import { sniffFile } from './sniff-file.js';

/**
 * The on-device mode's preprocessing: the browser decodes, then the server's own SIMD kernel (the same
 * resample.wasm, src/image/simd-resample.ts) resizes, crops and normalises, so a lossless photo gives the
 * server's tensor bit for bit. Runs in a worker or on the main thread (tests), wherever OffscreenCanvas is.
 */

/**
 * Why the mode cannot run here, or cannot read this photo; the page maps each to a sentence. `NOT_IMAGE`: bytes
 * the server would refuse as UNSUPPORTED_MEDIA_TYPE; `UNDECODABLE`: an image the server reads but browsers
 * commonly cannot (TIFF, HEIC); `CORRUPT`: a format the browser reads, but not this file (the server's
 * IMAGE_CORRUPT).
 */
export type OnDeviceProblem = 'NO_SIMD' | 'MEMORY' | 'NOT_IMAGE' | 'UNDECODABLE' | 'CORRUPT' | 'FAILED';

/** Formats the server decodes that Chromium and Firefox do not (Safari does); a failed decode of these is no damage. */
const OFTEN_UNDECODABLE: ReadonlySet<ImageFormat> = new Set(['tiff', 'heic']);

/** What the on-device mode can read: the server's formats less those browsers commonly cannot decode. */
export const ON_DEVICE_FORMATS: readonly string[] = DECODABLE.filter((format) => !OFTEN_UNDECODABLE.has(format)).map(
  (format) => FORMAT_NAMES[format],
);

export class OnDeviceError extends Error {
  readonly code: OnDeviceProblem;
  /** The format, for `UNDECODABLE`'s sentence. */
  readonly format: ImageFormat | undefined;
  constructor(code: OnDeviceProblem, message: string, options?: { cause?: unknown; format?: ImageFormat }) {
    super(message, options);
    this.code = code;
    this.format = options?.format;
    this.name = 'OnDeviceError';
  }
}

/** Fetches and compiles the kernel; `NO_SIMD` where this browser lacks WebAssembly SIMD (which ORT-web needs too). */
export async function loadResampler(url: URL | string): Promise<SimdResampler> {
  if (!wasmSimdSupported()) throw new OnDeviceError('NO_SIMD', 'WebAssembly SIMD is not available in this browser.');
  const response = await fetch(url);
  if (!response.ok) throw new OnDeviceError('FAILED', `GET ${String(url)} answered ${response.status}.`);
  return SimdResampler.fromModule(await WebAssembly.compile(await response.arrayBuffer()));
}

/**
 * The bitmap's straight (not premultiplied) RGBA through a WebGL2 texture: a 2D canvas stores premultiplied
 * colour, which rounds semi-transparent pixels and turns fully transparent ones black, while the server (like
 * PIL's convert('RGB')) keeps the colour under any alpha (measured on the RGBA fixture: mean |Δ| 15.8/255 via
 * the 2D canvas, 0 via WebGL). `undefined` where WebGL2 is missing or the image exceeds its texture size.
 */
function straightRgbaViaWebGl(bitmap: ImageBitmap): Uint8Array | undefined {
  const { width, height } = bitmap;
  const gl = webGl();
  if (gl === undefined) return undefined;
  const maxSize = gl.getParameter(gl.MAX_TEXTURE_SIZE) as number;
  if (width > maxSize || height > maxSize) return undefined;
  const texture = gl.createTexture();
  const framebuffer = gl.createFramebuffer();
  try {
    gl.bindTexture(gl.TEXTURE_2D, texture);
    gl.pixelStorei(gl.UNPACK_PREMULTIPLY_ALPHA_WEBGL, false);
    gl.pixelStorei(gl.UNPACK_COLORSPACE_CONVERSION_WEBGL, gl.NONE);
    gl.texImage2D(gl.TEXTURE_2D, 0, gl.RGBA8, width, height, 0, gl.RGBA, gl.UNSIGNED_BYTE, bitmap);
    gl.bindFramebuffer(gl.FRAMEBUFFER, framebuffer);
    gl.framebufferTexture2D(gl.FRAMEBUFFER, gl.COLOR_ATTACHMENT0, gl.TEXTURE_2D, texture, 0);
    if (gl.checkFramebufferStatus(gl.FRAMEBUFFER) !== gl.FRAMEBUFFER_COMPLETE) return undefined;
    // Texture row 0 is the bitmap's first row, and readPixels starts at row 0: the rows stay in image order.
    const pixels = new Uint8Array(width * height * 4);
    gl.readPixels(0, 0, width, height, gl.RGBA, gl.UNSIGNED_BYTE, pixels);
    return gl.getError() === gl.NO_ERROR ? pixels : undefined;
  } finally {
    // The texture is the size of the photo: give it back now, keep the context for the next photo.
    gl.bindFramebuffer(gl.FRAMEBUFFER, null);
    gl.deleteFramebuffer(framebuffer);
    gl.deleteTexture(texture);
  }
}

/** One WebGL2 context for every photo (creating one costs more than the upload), or `undefined` without WebGL2. */
let context: WebGL2RenderingContext | null | undefined;
function webGl(): WebGL2RenderingContext | undefined {
  if (context === undefined || context?.isContextLost() === true) {
    context = new OffscreenCanvas(1, 1).getContext('webgl2', { premultipliedAlpha: false, antialias: false, depth: false });
  }
  return context ?? undefined;
}

/** The same through a 2D canvas (premultiplied: exact for opaque images only), where WebGL2 is not available. */
function rgbaViaCanvas(bitmap: ImageBitmap): Uint8Array {
  const { width, height } = bitmap;
  const context = new OffscreenCanvas(width, height).getContext('2d', { willReadFrequently: true });
  if (context === null) throw new OnDeviceError('FAILED', 'No 2D canvas in this browser.');
  context.drawImage(bitmap, 0, 0);
  const { data } = context.getImageData(0, 0, width, height);
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}

/**
 * Decodes `image` upright (EXIF orientation applied, as the server does) with no colour management (the server
 * ignores ICC profiles, like PIL's convert('RGB')), to straight RGBA.
 */
async function decodeRgba(image: Blob, format: ImageFormat): Promise<{ data: Uint8Array; width: number; height: number }> {
  let bitmap: ImageBitmap;
  try {
    bitmap = await createImageBitmap(image, { imageOrientation: 'from-image', colorSpaceConversion: 'none', premultiplyAlpha: 'none' });
  } catch (cause) {
    const problem = OFTEN_UNDECODABLE.has(format) ? 'UNDECODABLE' : 'CORRUPT';
    throw new OnDeviceError(problem, `The browser cannot decode this ${format.toUpperCase()} image.`, { cause, format });
  }
  try {
    const data = straightRgbaViaWebGl(bitmap) ?? rgbaViaCanvas(bitmap);
    return { data, width: bitmap.width, height: bitmap.height };
  } catch (cause) {
    // A 40 MP photo needs 160 MB of RGBA; a phone may refuse the texture, the canvas or the copy.
    if (cause instanceof RangeError || (cause instanceof DOMException && cause.name !== 'SecurityError')) {
      throw new OnDeviceError('MEMORY', 'Not enough memory to decode this image here.', { cause });
    }
    throw cause;
  } finally {
    bitmap.close();
  }
}

/**
 * The 3×crop×crop CHW tensor of an encoded image under `recipe` (the server's, from GET /on-device; default
 * {@link IMAGENET_RECIPE}), how long the decode took, and the upright image's size.
 */
export async function preprocessOnDevice(
  image: Blob,
  resampler: SimdResampler,
  recipe: PreprocessRecipe = IMAGENET_RECIPE,
): Promise<{ tensor: Float32Array; decodeMs: number; width: number; height: number }> {
  const started = performance.now();
  // Judged by the bytes, as the server does, before the browser is asked to decode anything.
  const format = await sniffFile(image);
  if (format === undefined) throw new OnDeviceError('NOT_IMAGE', 'The file is not an image (judged by its content, not its name).');
  const rgba = await decodeRgba(image, format);
  // A GIF's transparent pixels take their palette colour, as on the server (image/gif-transparency.ts).
  if (format === 'gif') {
    const colour = gifTransparentColour(new Uint8Array(await image.arrayBuffer()));
    if (colour !== undefined) fillTransparent(rgba.data, 4, colour);
  }
  const tensor = new Float32Array(inputElements(recipe));
  try {
    resampler.resizeCropInto(
      { ...rgba, channels: 4 },
      recipeGeometry(rgba.width, rgba.height, recipe),
      recipe.interpolation,
      recipe,
      tensor,
      0,
    );
  } catch (cause) {
    if (cause instanceof RangeError) throw new OnDeviceError('MEMORY', 'Not enough memory to resize this image here.', { cause });
    throw cause;
  }
  return { tensor, decodeMs: performance.now() - started, width: rgba.width, height: rgba.height };
}
