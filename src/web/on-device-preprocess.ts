import { IMAGENET_RECIPE, INPUT_ELEMENTS } from '../image/recipe.js';
import { recipeGeometry } from '../image/recipe-geometry.js';
import { SimdResampler, wasmSimdSupported } from '../image/simd-resample.js';

/**
 * The on-device mode's preprocessing: the browser decodes, then the server's own SIMD kernel (the same
 * resample.wasm, src/image/simd-resample.ts) resizes, crops and normalises, so a lossless photo gives the
 * server's tensor bit for bit. Runs in a worker or on the main thread (tests), wherever OffscreenCanvas is.
 */

/** Why the mode cannot run here; the page maps each to a sentence. */
export type OnDeviceProblem = 'NO_SIMD' | 'MEMORY' | 'CORRUPT' | 'FAILED';

export class OnDeviceError extends Error {
  readonly code: OnDeviceProblem;
  constructor(code: OnDeviceProblem, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
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
 * Decodes `image` upright (EXIF orientation applied, as the server does) with no colour management (the server
 * ignores ICC profiles, like PIL's convert('RGB')), to straight (not premultiplied) RGBA.
 */
async function decodeRgba(image: Blob): Promise<{ data: Uint8Array; width: number; height: number }> {
  let bitmap: ImageBitmap;
  try {
    bitmap = await createImageBitmap(image, { imageOrientation: 'from-image', colorSpaceConversion: 'none', premultiplyAlpha: 'none' });
  } catch (cause) {
    throw new OnDeviceError('CORRUPT', 'The browser cannot decode this image.', { cause });
  }
  try {
    const { width, height } = bitmap;
    const canvas = new OffscreenCanvas(width, height);
    const context = canvas.getContext('2d', { willReadFrequently: true });
    if (context === null) throw new OnDeviceError('FAILED', 'No 2D canvas in this browser.');
    context.drawImage(bitmap, 0, 0);
    const { data } = context.getImageData(0, 0, width, height);
    return { data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength), width, height };
  } catch (cause) {
    // A 40 MP photo needs 160 MB of RGBA; a phone may refuse the canvas or the copy.
    if (cause instanceof RangeError || (cause instanceof DOMException && cause.name !== 'SecurityError')) {
      throw new OnDeviceError('MEMORY', 'Not enough memory to decode this image here.', { cause });
    }
    throw cause;
  } finally {
    bitmap.close();
  }
}

/** The recipe's 3×224×224 CHW tensor of an encoded image, and how long the decode took. */
export async function preprocessOnDevice(image: Blob, resampler: SimdResampler): Promise<{ tensor: Float32Array; decodeMs: number }> {
  const started = performance.now();
  const rgba = await decodeRgba(image);
  const g = recipeGeometry(rgba.width, rgba.height, IMAGENET_RECIPE);
  const tensor = new Float32Array(INPUT_ELEMENTS);
  try {
    resampler.resizeCropInto(
      { ...rgba, channels: 4 },
      g.resizedWidth,
      g.resizedHeight,
      g.cropTop,
      g.cropLeft,
      g.cropSize,
      IMAGENET_RECIPE,
      tensor,
      0,
    );
  } catch (cause) {
    if (cause instanceof RangeError) throw new OnDeviceError('MEMORY', 'Not enough memory to resize this image here.', { cause });
    throw cause;
  }
  return { tensor, decodeMs: performance.now() - started };
}
