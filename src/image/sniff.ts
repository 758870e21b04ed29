import { ResnetServeError } from '../errors.js';
import { DECODABLE, DECODABLE_LIST, FORMAT_NAMES, type ImageFormat } from './formats.js';

/** ISO-BMFF `ftyp` brands (ISO/IEC 23008-12 and the AVIF spec) that announce an AV1 image. */
const AVIF_BRANDS = new Set(['avif', 'avis']);
/** Brands that announce an HEVC (or generic HEIF) image; checked after the AVIF ones. */
const HEIF_BRANDS = new Set(['heic', 'heix', 'hevc', 'hevx', 'heim', 'heis', 'hevm', 'hevs', 'mif1', 'msf1']);

function startsWith(bytes: Uint8Array, signature: readonly number[], at = 0): boolean {
  if (bytes.length < at + signature.length) return false;
  return signature.every((value, i) => bytes[at + i] === value);
}

function ascii(bytes: Uint8Array, start: number, length: number): string {
  return String.fromCharCode(...bytes.subarray(start, start + length));
}

/** Sizes of the BMP info headers (BITMAPCOREHEADER … BITMAPV5HEADER): 'BM' alone is too weak a signature. */
const BMP_INFO_HEADER_SIZES = new Set([12, 16, 40, 52, 56, 64, 108, 124]);

function isBmp(bytes: Uint8Array): boolean {
  if (bytes.length < 26 || ascii(bytes, 0, 2) !== 'BM') return false;
  const infoSize = bytes[14]! | (bytes[15]! << 8) | (bytes[16]! << 16) | (bytes[17]! << 24);
  return BMP_INFO_HEADER_SIZES.has(infoSize);
}

/** Reads the major and compatible brands of an ISO-BMFF `ftyp` box at the start of the file. */
function ftypBrands(bytes: Uint8Array): string[] {
  if (bytes.length < 16 || ascii(bytes, 4, 4) !== 'ftyp') return [];
  const boxSize = ((bytes[0]! << 24) | (bytes[1]! << 16) | (bytes[2]! << 8) | bytes[3]!) >>> 0;
  const end = Math.min(boxSize, bytes.length);
  const brands = [ascii(bytes, 8, 4)];
  for (let at = 16; at + 4 <= end; at += 4) brands.push(ascii(bytes, at, 4));
  return brands;
}

/** Like {@link sniffImageFormat} but returns `undefined` for unknown bytes instead of throwing. */
export function detectImageFormat(bytes: Uint8Array): ImageFormat | undefined {
  if (startsWith(bytes, [0xff, 0xd8, 0xff])) return 'jpeg';
  if (startsWith(bytes, [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])) return 'png';
  if (ascii(bytes, 0, 4) === 'RIFF' && ascii(bytes, 8, 4) === 'WEBP') return 'webp';
  if (ascii(bytes, 0, 6) === 'GIF87a' || ascii(bytes, 0, 6) === 'GIF89a') return 'gif';
  if (startsWith(bytes, [0x49, 0x49, 0x2a, 0x00]) || startsWith(bytes, [0x4d, 0x4d, 0x00, 0x2a])) return 'tiff';
  if (isBmp(bytes)) return 'bmp';
  const brands = ftypBrands(bytes);
  if (brands.some((brand) => AVIF_BRANDS.has(brand))) return 'avif';
  if (brands.some((brand) => HEIF_BRANDS.has(brand))) return 'heic';
  return undefined;
}

/**
 * Identifies an image format from its magic bytes alone; file names and declared content types are never
 * consulted, because clients get them wrong (and attackers lie).
 *
 * @param bytes - the uploaded file.
 * @returns the container format.
 * @throws ResnetServeError `FILE_EMPTY` for zero bytes, `UNSUPPORTED_MEDIA_TYPE` for anything unrecognised.
 * @example sniffImageFormat(readFileSync('test/fixtures/images/png-named.jpg')) // → 'png'
 */
export function sniffImageFormat(bytes: Uint8Array): ImageFormat {
  if (bytes.length === 0) throw new ResnetServeError('FILE_EMPTY', { subject: 'The file' });
  const format = detectImageFormat(bytes);
  if (format === undefined) {
    throw new ResnetServeError(
      'UNSUPPORTED_MEDIA_TYPE',
      `The file is not a ${DECODABLE_LIST} image (judged by its content, not its name).`,
    );
  }
  return format;
}

/**
 * {@link sniffImageFormat}, and also refuses the formats it recognises but this build cannot decode (BMP, HEIC):
 * what admits bytes to the classifier's queue, so they are refused before they take a place in it.
 *
 * @returns one of {@link DECODABLE}.
 * @throws ResnetServeError `FILE_EMPTY`; `UNSUPPORTED_MEDIA_TYPE` for unknown bytes, and with `details.format` for
 *   a recognised format that is not decodable.
 */
export function sniffDecodableFormat(bytes: Uint8Array): ImageFormat {
  const format = sniffImageFormat(bytes);
  if (!DECODABLE.includes(format)) {
    throw new ResnetServeError(
      'UNSUPPORTED_MEDIA_TYPE',
      `${FORMAT_NAMES[format]} images are recognised but this build cannot decode them; convert to JPEG or PNG.`,
      { details: { format } },
    );
  }
  return format;
}
