import type { ImageFormat } from '../image/formats.js';
import { detectImageFormat } from '../image/sniff.js';

/**
 * Enough leading bytes for every signature the server's sniffer knows: the longest is an ISO-BMFF `ftyp` box
 * (AVIF, HEIC), a few dozen bytes in practice.
 */
const SNIFF_BYTES = 4096;

/**
 * The format of a chosen file judged by its bytes, as the server judges an upload (image/sniff.ts), never by its
 * name or declared type; `undefined` for bytes that are no image the server knows.
 */
export async function sniffFile(file: Blob): Promise<ImageFormat | undefined> {
  return detectImageFormat(new Uint8Array(await file.slice(0, SNIFF_BYTES).arrayBuffer()));
}
