/** Container formats recognised from their leading bytes. `heic` is HEIF with HEVC (not AVIF) inside. */
export type ImageFormat = 'jpeg' | 'png' | 'webp' | 'gif' | 'avif' | 'heic' | 'tiff' | 'bmp';

/** Each format's name as people write it. */
export const FORMAT_NAMES: Readonly<Record<ImageFormat, string>> = Object.freeze({
  jpeg: 'JPEG',
  png: 'PNG',
  webp: 'WebP',
  gif: 'GIF',
  avif: 'AVIF',
  heic: 'HEIC',
  tiff: 'TIFF',
  bmp: 'BMP',
});

/**
 * Formats the bundled sharp (libvips 8.18 prebuilt) decodes from a buffer: the one list of what resnet-serve reads.
 * The sniffer's refusals, the route docs, the page (through scripts/build-web.mjs) and the docs are made from it (test/unit/image-formats.test.ts checks docs/).
 * BMP has no libvips loader without ImageMagick, and HEIC needs an HEVC decoder the prebuilt libheif leaves out
 * (it only has AV1): both are recognised, so that they are refused by name, but not decoded.
 */
export const DECODABLE: readonly ImageFormat[] = Object.freeze(['jpeg', 'png', 'webp', 'gif', 'avif', 'tiff']);

/** The names of {@link DECODABLE}, in its order. */
export const DECODABLE_NAMES: readonly string[] = Object.freeze(DECODABLE.map((format) => FORMAT_NAMES[format]));

/** {@link DECODABLE} for an English sentence: "JPEG, PNG, WebP, GIF, AVIF or TIFF". */
export const DECODABLE_LIST = `${DECODABLE_NAMES.slice(0, -1).join(', ')} or ${DECODABLE_NAMES.at(-1)}`;
