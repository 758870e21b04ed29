import type { IntegerOption } from '../guards.js';

/**
 * The largest image, in pixels (width × height), that decoding accepts: readImageHeader checks it from the header
 * before any decoding (IMAGE_TOO_LARGE), and sharp's `limitInputPixels` holds it again while decoding. Its own
 * module, free of sharp, so the command line and the server read it without loading the decoder.
 */
export const MAX_PIXELS = Object.freeze({ default: 40_000_000, min: 1 }) satisfies IntegerOption;
