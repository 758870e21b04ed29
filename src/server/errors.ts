import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { ERROR_CODES, type ErrorCode, isResnetServeError, ResnetServeError } from '../errors.js';

/** The body of every error response. */
export interface ErrorBody {
  error: string;
  code: ErrorCode;
  details?: Record<string, unknown>;
  /** Only on INTERNAL: the id of the log line that has the stack. */
  requestId?: string;
}

/** JSON Schema of {@link ErrorBody}; `code` lists the registry so OpenAPI readers see every code. */
export const errorBodySchema = {
  $id: 'ErrorBody',
  type: 'object',
  required: ['error', 'code'],
  properties: {
    error: { type: 'string', description: 'A human sentence; may change between versions.' },
    code: {
      type: 'string',
      enum: Object.keys(ERROR_CODES),
      description: Object.entries(ERROR_CODES)
        .map(([code, { status, summary }]) => `${code} (${status}): ${summary}`)
        .join('\n'),
    },
    details: { type: 'object', additionalProperties: true },
    requestId: { type: 'string' },
  },
} as const;

/** Seconds a client should wait before retrying each 503. */
const RETRY_AFTER_SECONDS: Partial<Record<ErrorCode, number>> = { QUEUE_FULL: 1, TIMEOUT: 1, NOT_READY: 5 };

/** @fastify/multipart errors that mean "the part is larger than `limits.fileSize`". */
const SIZE_LIMIT_CODES = new Set(['FST_REQ_FILE_TOO_LARGE', 'FST_ERR_CTP_BODY_TOO_LARGE']);
/** @fastify/multipart errors for a body with more parts, files or fields than one upload needs. */
const SHAPE_LIMIT_CODES = new Set(['FST_FILES_LIMIT', 'FST_PARTS_LIMIT', 'FST_FIELDS_LIMIT']);

/**
 * Turns any thrown value into a registry error. Fastify and plugin errors are mapped by their
 * `code`; anything unrecognised becomes INTERNAL (and is logged with its stack by the caller).
 */
export function toResnetServeError(error: unknown): ResnetServeError {
  if (isResnetServeError(error)) return error;
  const fastifyError = error as Partial<FastifyError> | undefined;
  const code = fastifyError?.code ?? '';
  const status = fastifyError?.statusCode ?? 500;
  if (fastifyError?.validation !== undefined) {
    return new ResnetServeError('INVALID_ARGUMENT', fastifyError.message ?? 'Invalid request.', { cause: error });
  }
  if (SIZE_LIMIT_CODES.has(code)) {
    return new ResnetServeError('FILE_TOO_LARGE', 'The upload is larger than the server accepts.', { cause: error });
  }
  if (SHAPE_LIMIT_CODES.has(code)) {
    return new ResnetServeError('INVALID_ARGUMENT', 'Send exactly one file, in a multipart part named `file`.', { cause: error });
  }
  if (code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE' || code === 'FST_INVALID_MULTIPART_CONTENT_TYPE') {
    return missingFile(error);
  }
  if (status === 404) return new ResnetServeError('NOT_FOUND', 'No such route or file.', { cause: error });
  if (status >= 400 && status < 500) {
    // Malformed multipart, bad Content-Length, broken JSON...: the client's fault, described by the library.
    return new ResnetServeError('INVALID_ARGUMENT', fastifyError?.message ?? 'Malformed request.', { cause: error });
  }
  return new ResnetServeError('INTERNAL', 'An unexpected error occurred.', { cause: error });
}

/** FILE_MISSING in the words a curl user needs. */
export function missingFile(cause?: unknown): ResnetServeError {
  return new ResnetServeError(
    'FILE_MISSING',
    'POST /predict expects multipart/form-data with the image in a part named `file` (curl -F file=@cat.jpg).',
    { cause },
  );
}

/** Writes `{ error, code }` with the registry status, plus `Retry-After` on retryable 503s. */
export function sendError(request: FastifyRequest, reply: FastifyReply, error: ResnetServeError): FastifyReply {
  request.errorCode = error.code;
  const body: ErrorBody = { error: error.message, code: error.code };
  if (error.details !== undefined) body.details = error.details;
  if (error.code === 'INTERNAL') {
    body.error = `An unexpected error occurred; the server log has the details under request id ${request.id}.`;
    body.requestId = request.id;
  }
  // Answering before the whole body arrived. Node drains the rest after the response and keeps the socket
  // for the next request, which is right for a body whose declared length already passed the upload limit
  // (closing instead made keep-alive clients write into a closed socket: EPIPE). An oversized or
  // length-less (chunked) body is not read: the connection is closed.
  if (!request.raw.complete && (error.code === 'FILE_TOO_LARGE' || request.headers['content-length'] === undefined)) {
    reply.header('connection', 'close');
  }
  const retryAfter = RETRY_AFTER_SECONDS[error.code];
  if (retryAfter !== undefined) reply.header('retry-after', String(retryAfter));
  return reply.code(error.statusCode).type('application/json; charset=utf-8').send(body);
}

/** Installs the one error handler and the 404 handler on the root instance. */
export function installErrorHandling(app: FastifyInstance): void {
  app.setErrorHandler((error, request, reply) => {
    const mapped = toResnetServeError(error);
    // Expected failures are described by the request's one log line (its code); only the unexpected get a stack.
    if (mapped.code === 'INTERNAL') request.log.error({ err: error }, 'unexpected error');
    return sendError(request, reply, mapped);
  });
  app.setNotFoundHandler((request, reply) =>
    sendError(request, reply, new ResnetServeError('NOT_FOUND', `No route for ${request.method} ${request.url.split('?')[0]}.`)),
  );
}
