import type { Readable } from 'node:stream';

/** First buffer for an upload of unknown size (chunked transfer): grown by doubling, up to the limit. */
const UNKNOWN_SIZE_START_BYTES = 256 * 1024;

/**
 * Reads an uploaded file part into one buffer. @fastify/multipart's `toBuffer()` keeps every chunk (each
 * holding on to a socket read buffer) and then concatenates them: twice the upload at its peak, per request.
 * Here the buffer is sized once from the request's Content-Length, which bounds the part, and filled as
 * chunks arrive. Bytes beyond the part's length are never exposed.
 *
 * @param file - the part's stream; `truncated` is set by busboy when the part exceeded its size limit.
 * @param declaredBytes - the request's Content-Length, or NaN when the body is chunked.
 * @param limitBytes - the part's size limit: no buffer grows past it.
 * @returns the part's bytes, or `undefined` when it was larger than `limitBytes` (the rest is drained).
 */
export async function readUpload(
  file: Readable & { truncated?: boolean },
  declaredBytes: number,
  limitBytes: number,
): Promise<Buffer | undefined> {
  let buffer = Buffer.allocUnsafe(
    Number.isFinite(declaredBytes) ? Math.min(declaredBytes, limitBytes) : Math.min(UNKNOWN_SIZE_START_BYTES, limitBytes),
  );
  let length = 0;
  for await (const chunk of file as AsyncIterable<Buffer>) {
    if (length + chunk.length > buffer.length) {
      // Only a chunked body, or a Content-Length smaller than the body (which Node's parser refuses), gets here.
      if (length + chunk.length > limitBytes) continue;
      const grown = Buffer.allocUnsafe(Math.min(limitBytes, Math.max(buffer.length * 2, length + chunk.length)));
      buffer.copy(grown, 0, 0, length);
      buffer = grown;
    }
    chunk.copy(buffer, length);
    length += chunk.length;
  }
  return file.truncated === true ? undefined : buffer.subarray(0, length);
}
