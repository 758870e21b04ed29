import type { Readable } from 'node:stream';
import multipart from '@fastify/multipart';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { isResnetServeError, messageOf, ResnetServeError } from '../errors.js';

declare module 'fastify' {
  interface FastifyContextConfig {
    /**
     * A route that takes an image in a multipart part: the part's name and the upload limit, which the error
     * handler names when @fastify/multipart refuses the body (FILE_MISSING, FILE_TOO_LARGE).
     */
    upload?: UploadConfig;
  }
}

export interface UploadConfig {
  part: string;
  maxBytes: number;
}

/**
 * Room for the multipart envelope around the file: boundaries, part headers and a few small fields.
 * A Content-Length above `maxUploadBytes` plus this can only hold an oversized file.
 */
export const MULTIPART_OVERHEAD_BYTES = 64 * 1024;

/** First buffer for an upload of unknown size (chunked transfer): grown by doubling, up to the limit. */
const UNKNOWN_SIZE_START_BYTES = 256 * 1024;

/**
 * Reads an uploaded file part into one buffer. @fastify/multipart's `toBuffer()` keeps every chunk (each
 * holding on to a socket read buffer) and then concatenates them: twice the upload at its peak, per request.
 * Here the buffer is sized once from the request's Content-Length, which bounds the part, and filled as
 * chunks arrive. Bytes beyond the part's length are never exposed.
 *
 * @param file - the part's stream; busboy sets `truncated` and emits `limit` when the part passes its size limit.
 * @param declaredBytes - the request's Content-Length, or NaN when the body is chunked.
 * @param limitBytes - the part's size limit: no buffer grows past it.
 * @param inspect - sees each chunk as it arrives; what it throws ends the reading (the rest of the stream is
 *   read and dropped, so the refusal can be answered) and is thrown on.
 * @returns the part's bytes, or `undefined` as soon as the part passes `limitBytes`: the stream is destroyed then,
 *   without waiting for the part to end (a chunked upload could otherwise go on for gigabytes).
 */
export async function readUpload(
  file: Readable & { truncated?: boolean },
  declaredBytes: number,
  limitBytes: number,
  inspect?: (chunk: Buffer) => void,
): Promise<Buffer | undefined> {
  let buffer = Buffer.allocUnsafe(
    Number.isFinite(declaredBytes) ? Math.min(declaredBytes, limitBytes) : Math.min(UNKNOWN_SIZE_START_BYTES, limitBytes),
  );
  let length = 0;
  let over = false;
  const stop = (): void => {
    over = true;
    file.destroy();
  };
  file.once('limit', stop);
  try {
    // Not destroyed on a refusal by `inspect`: the stream may be a request, whose socket must live to answer it.
    for await (const chunk of file.iterator({ destroyOnReturn: false }) as AsyncIterable<Buffer>) {
      if (inspect !== undefined) {
        try {
          inspect(chunk);
        } catch (refusal) {
          file.resume();
          throw refusal;
        }
      }
      if (length + chunk.length > limitBytes) {
        stop();
        break;
      }
      if (length + chunk.length > buffer.length) {
        // Only a chunked body, or a Content-Length smaller than the body (which Node's parser refuses), gets here.
        const grown = Buffer.allocUnsafe(Math.min(limitBytes, Math.max(buffer.length * 2, length + chunk.length)));
        buffer.copy(grown, 0, 0, length);
        buffer = grown;
      }
      chunk.copy(buffer, length);
      length += chunk.length;
    }
  } catch (error) {
    // Destroying the stream at the limit ends the iteration with a premature-close error.
    if (!over) throw error;
  } finally {
    file.off('limit', stop);
  }
  return over || file.truncated === true ? undefined : buffer.subarray(0, length);
}

/**
 * @fastify/multipart's `fileHwm` for every upload route. busboy 3.2.6 never finishes a body in which a part it
 * skips (not form-data, past the files limit) pushes more than its part stream's high-water mark in one write
 * and ends there: the request hung until the client gave up (found by `npm run fuzz`;
 * test/fixtures/fuzz/multipart/). A mark above any socket read (64 KiB) keeps that from happening; the file
 * stream it also sizes is read as it arrives.
 */
const MULTIPART_FILE_HIGH_WATER_MARK = 1024 * 1024;

/**
 * @fastify/multipart for a route that takes one image, with the same limits on every such route: one file of at
 * most `maxUploadBytes`, and no more parts, fields and headers than an upload form sends.
 */
export async function acceptMultipart(app: FastifyInstance, maxUploadBytes: number): Promise<void> {
  await app.register(multipart, {
    fileHwm: MULTIPART_FILE_HIGH_WATER_MARK,
    limits: { fileSize: maxUploadBytes, files: 1, fields: 8, parts: 10, fieldNameSize: 100, fieldSize: 1024, headerPairs: 32 },
  });
}

/**
 * A file part's bytes (see {@link readUpload}).
 * @throws ResnetServeError FILE_TOO_LARGE as soon as the part passes `maxUploadBytes`.
 */
export async function readFilePart(request: FastifyRequest, file: Readable, maxUploadBytes: number): Promise<Buffer> {
  const bytes = await readUpload(file, Number(request.headers['content-length']), maxUploadBytes);
  if (bytes === undefined) throw uploadTooLarge(maxUploadBytes, request.bodyBytesReceived);
  return bytes;
}

/** FILE_TOO_LARGE for a body over `limit` bytes, with what was declared or received. */
export function bodyTooLarge(limit: number, facts: { declaredBytes?: number; receivedBytes?: number }): ResnetServeError {
  return new ResnetServeError(
    'FILE_TOO_LARGE',
    { subject: 'The request body', limitBytes: limit },
    { details: { limitBytes: limit, ...facts } },
  );
}

/** The route's `bodyLimit`, else the app's. */
export function bodyLimitOf(request: FastifyRequest): number {
  return request.routeOptions.bodyLimit ?? request.server.initialConfig.bodyLimit ?? Number.POSITIVE_INFINITY;
}

/** FILE_TOO_LARGE for an image over the upload limit; `receivedBytes` is what the request had delivered by then. */
export function uploadTooLarge(limitBytes: number, receivedBytes?: number): ResnetServeError {
  return new ResnetServeError(
    'FILE_TOO_LARGE',
    { subject: 'The upload', limitBytes },
    { details: receivedBytes === undefined ? { limitBytes } : { limitBytes, receivedBytes } },
  );
}

/**
 * Runs the multipart reading of a route. busboy reports a body that breaks RFC 7578 (no boundary, a wrong one,
 * no closing delimiter, a malformed part header) as a plain Error without a code: here that is the client's
 * malformed body, 400 BAD_REQUEST, not an unexpected failure. Found by `npm run fuzz`.
 */
export async function parsingMultipart<T>(read: () => Promise<T>): Promise<T> {
  try {
    return await read();
  } catch (error) {
    if (isResnetServeError(error) || (error as { code?: unknown }).code !== undefined) throw error;
    throw new ResnetServeError('BAD_REQUEST', `The multipart body is malformed: ${messageOf(error).replace(/\.$/, '')}.`, {
      cause: error,
    });
  }
}
