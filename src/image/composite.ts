import sharp from 'sharp';
import type { RgbPixels } from './pillow-resample.js';

/** Straight-alpha RGBA pixels drawn over a picture with their top-left corner at (`left`, `top`). */
export interface RgbaLayer {
  readonly data: Uint8Array | Uint8ClampedArray;
  readonly width: number;
  readonly height: number;
  readonly left?: number;
  readonly top?: number;
}

/**
 * Decoded pixels scaled to `width` × `height`, with `layers` drawn over them in order (positions in the scaled
 * picture's pixels): a PNG. For pictures people look at, not for the model.
 */
export async function compositePng(
  pixels: RgbPixels,
  size: { readonly width: number; readonly height: number },
  layers: readonly RgbaLayer[],
): Promise<Buffer> {
  const { width, height } = size;
  return (
    sharp(Buffer.from(pixels.data.buffer, pixels.data.byteOffset, pixels.data.byteLength), {
      // decodeImage gives RGB or RGBA.
      raw: { width: pixels.width, height: pixels.height, channels: pixels.channels === 4 ? 4 : 3 },
    })
      // A triangle filter, not sharp's default lanczos3: for display only, but the same kernel as everywhere else.
      .resize(width, height, { fit: 'fill', kernel: 'linear' })
      // sharp composites after resizing, so every layer is in the scaled picture's pixels.
      .composite(
        layers.map((layer) => ({
          input: Buffer.from(layer.data.buffer, layer.data.byteOffset, layer.data.byteLength),
          raw: { width: layer.width, height: layer.height, channels: 4 as const },
          left: layer.left ?? 0,
          top: layer.top ?? 0,
        })),
      )
      .png()
      .toBuffer()
  );
}
