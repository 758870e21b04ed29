import sharp, { type Metadata, type OutputInfo, type Sharp } from 'sharp';
import { ResnetServeError } from '../errors.js';
import type { ImageFormat } from './formats.js';
import { fillTransparent, gifTransparentColour } from './gif-transparency.js';
import type { RgbPixels } from './pillow-resample.js';
import { sniffDecodableFormat } from './sniff.js';

// libvips' operation cache (sharp default: 50 MB, 100 operations) keys on the input buffer; every upload
// is a new buffer, so it never hits and only holds memory.
sharp.cache(false);

/** Input options shared by the header read and the decode; every one is set on purpose, none inherited. */
const BASE_OPTIONS = {
  // Strictest level. libjpeg reports a corrupt entropy-coded segment only as a *warning* and fills in
  // garbage; a lower level would classify that garbage (measured: 'error' accepts the garbage-middle.jpg fixture).
  failOn: 'warning',
  // PIL's convert('RGB') ignores embedded ICC profiles, and so did the ImageNet training pipeline;
  // sharp would otherwise transform to sRGB with the profile (pipeline.cc "device-independent colour space").
  ignoreIcc: true,
  // Animated GIF/WebP: PIL's Image.open shows the first frame, so decode exactly one page, the first.
  pages: 1,
  page: 0,
  // One pass over the compressed data; sharp itself buffers the image when an EXIF rotation needs it.
  sequentialRead: true,
} as const;

/** What the header says, read before any pixel is decoded. */
export interface ImageHeader {
  format: ImageFormat;
  metadata: Metadata;
  /** Width and height after EXIF orientation, i.e. of the pixels {@link decodeImage} returns. */
  width: number;
  height: number;
  pixels: number;
}

/**
 * Identifies the format from the magic bytes and reads the header, refusing images of more than
 * `maxPixels` pixels before any decoding.
 *
 * @throws ResnetServeError `FILE_EMPTY`, `UNSUPPORTED_MEDIA_TYPE` (unknown bytes, BMP, HEIC),
 *   `IMAGE_TOO_LARGE`, `IMAGE_CORRUPT` (unreadable header).
 */
export async function readImageHeader(bytes: Uint8Array, maxPixels: number): Promise<ImageHeader> {
  const format = sniffDecodableFormat(bytes);
  let metadata: Metadata;
  try {
    // limitInputPixels is lifted only for this header read, which decodes no pixels, so that an oversized
    // image gets our IMAGE_TOO_LARGE with its dimensions rather than sharp's generic message.
    metadata = await sharp(bytes, { ...BASE_OPTIONS, limitInputPixels: false }).metadata();
  } catch (cause) {
    throw new ResnetServeError('IMAGE_CORRUPT', { format, part: 'header' }, { cause });
  }
  const header = {
    format,
    metadata,
    width: metadata.autoOrient.width,
    height: metadata.autoOrient.height,
    pixels: metadata.width * metadata.height,
  };
  rejectOversized(header, maxPixels);
  return header;
}

function rejectOversized(header: ImageHeader, maxPixels: number): void {
  if (header.pixels <= maxPixels) return;
  const { width, height } = header.metadata;
  throw new ResnetServeError(
    'IMAGE_TOO_LARGE',
    { width, height, maxPixels },
    { details: { width, height, pixels: header.pixels, maxPixels } },
  );
}

/**
 * PIL's `cmyk2rgb` (libImaging/Convert.c): `nk = 255 - k; out = nk - MULDIV255(c, nk)` per channel, with
 * `MULDIV255(a, b) = ((a*b + 128) >> 8) + (a*b + 128)) >> 8`. No ICC profile, like PIL.
 */
function cmykToRgb(cmyk: Uint8Array, pixelCount: number, channels: number): Uint8Array {
  const rgb = new Uint8Array(pixelCount * 3);
  for (let i = 0, p = 0, o = 0; i < pixelCount; i++, p += channels) {
    const nk = 255 - cmyk[p + 3]!;
    for (let c = 0; c < 3; c++) {
      const t = cmyk[p + c]! * nk + 128;
      const v = nk - (((t >> 8) + t) >> 8);
      rgb[o++] = Math.max(v, 0);
    }
  }
  return rgb;
}

/** A libvips pre-reduction to exactly `width` × `height` (upright), done before our own resampling. */
export interface Reduction {
  width: number;
  height: number;
}

function pipelineFor(bytes: Uint8Array, metadata: Metadata, maxPixels: number, reduceTo: Reduction | undefined): Sharp {
  const image = sharp(bytes, {
    ...BASE_OPTIONS,
    // Enforced again by libvips at load time; our header check above already refused larger images.
    limitInputPixels: maxPixels,
    // EXIF orientation is applied (PIL's ImageOps.exif_transpose): users upload phone photos and expect
    // them upright. torchvision itself does not rotate; this is a deliberate choice.
    autoOrient: true,
  });
  // CMYK: keep the ink values and convert like PIL below; sharp's default would go through an ICC
  // transform with its built-in CMYK profile (measured mean |Δ| 16.7/255 against PIL).
  if (metadata.space === 'cmyk') return image.pipelineColourspace('cmyk').toColourspace('cmyk');
  if (reduceTo !== undefined) {
    image.resize({
      ...reduceTo,
      fit: 'fill',
      // A triangle like Pillow's BILINEAR (sharp's default is lanczos3).
      kernel: 'linear',
      // Lets libjpeg decode at 1/2, 1/4 or 1/8 scale whenever the shrink allows it: the speed-up.
      fastShrinkOnLoad: true,
    });
  }
  // Everything else becomes 8-bit sRGB: greyscale is replicated (as PIL's L→RGB), palettes expanded,
  // 16-bit samples keep their high byte (libvips' RGB16/GREY16 → sRGB is `>> 8`, which is also what PIL
  // does for 16-bit RGB PNGs). For 16-bit greyscale (I;16) PIL's convert('RGB') clips at 255 instead,
  // turning almost every pixel white; we deliberately do not copy that (see make_image_fixtures.py).
  return image.toColourspace('srgb');
}

/**
 * Decodes an image whose header {@link readImageHeader} accepted to upright 8-bit RGB(A) pixels,
 * optionally letting libvips reduce it to `reduceTo` on the way (JPEG shrink-on-load + linear kernel).
 *
 * @throws ResnetServeError `IMAGE_CORRUPT` for truncated or corrupt pixel data.
 */
export async function decodeImage(bytes: Uint8Array, header: ImageHeader, maxPixels: number, reduceTo?: Reduction): Promise<RgbPixels> {
  let decoded: { data: Buffer; info: OutputInfo };
  try {
    decoded = await pipelineFor(bytes, header.metadata, maxPixels, reduceTo).raw({ depth: 'uchar' }).toBuffer({ resolveWithObject: true });
  } catch (cause) {
    throw new ResnetServeError('IMAGE_CORRUPT', { format: header.format, part: 'data' }, { cause });
  }
  const { data, info } = decoded;
  const pixels = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  if (header.metadata.space === 'cmyk') {
    return { data: cmykToRgb(pixels, info.width * info.height, info.channels), width: info.width, height: info.height, channels: 3 };
  }
  if (header.format === 'gif') {
    const colour = gifTransparentColour(bytes);
    if (colour !== undefined) fillTransparent(pixels, info.channels, colour);
  }
  return { data: pixels, width: info.width, height: info.height, channels: info.channels };
}
