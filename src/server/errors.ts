import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { ERROR_CODES, type ErrorCode, isResnetServeError, ResnetServeError } from '../errors.js';
import { bodyLimitOf, bodyTooLarge, uploadTooLarge } from './upload.js';

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

/** Seconds a client should wait before retrying each 503 (and 429, whose wait the rate limiter computes). */
const RETRY_AFTER_SECONDS: Partial<Record<ErrorCode, number>> = { QUEUE_FULL: 1, TIMEOUT: 1, NOT_READY: 5, TOO_MANY_CONNECTIONS: 1 };

/** @fastify/multipart errors for a body with more parts, files or fields than one upload needs. */
const SHAPE_LIMIT_CODES = new Set(['FST_FILES_LIMIT', 'FST_PARTS_LIMIT', 'FST_FIELDS_LIMIT']);
/** What a stream reports when the client hung up mid-request (Node, @fastify/multipart). */
const ABORT_CODES = new Set(['ECONNRESET', 'ERR_STREAM_PREMATURE_CLOSE', 'FST_REQ_PREMATURE_CLOSE', 'EPIPE']);

/**
 * Turns any thrown value into a registry error. Fastify and plugin errors are mapped by their `code`, in the
 * words of the route that was called (its path, the part and limit of its upload); anything unrecognised
 * becomes INTERNAL (and is logged with its stack by the caller).
 */
export function toResnetServeError(error: unknown, request: FastifyRequest): ResnetServeError {
  if (isResnetServeError(error)) return error;
  const fastifyError = error as Partial<FastifyError> | undefined;
  const code = fastifyError?.code ?? '';
  const status = fastifyError?.statusCode ?? 500;
  const upload = request.routeOptions.config?.upload;
  if (fastifyError?.validation !== undefined) {
    return new ResnetServeError('INVALID_ARGUMENT', fastifyError.message ?? 'Invalid request.', { cause: error });
  }
  if (code === 'FST_REQ_FILE_TOO_LARGE' && upload !== undefined) return uploadTooLarge(upload.maxBytes);
  if (code === 'FST_REQ_FILE_TOO_LARGE' || code === 'FST_ERR_CTP_BODY_TOO_LARGE') return bodyTooLarge(bodyLimitOf(request), {});
  if (SHAPE_LIMIT_CODES.has(code)) {
    return new ResnetServeError('INVALID_ARGUMENT', `Send exactly one file, in a multipart part named \`${upload?.part ?? 'file'}\`.`, {
      cause: error,
    });
  }
  if (code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE' || code === 'FST_INVALID_MULTIPART_CONTENT_TYPE') {
    return missingFile(request, error);
  }
  if (ABORT_CODES.has(code)) return clientAborted(error);
  if (status === 404) return new ResnetServeError('NOT_FOUND', { method: request.method, path: pathOf(request) }, { cause: error });
  // @fastify/static (send) refuses paths that climb out of the web root or name dotfiles with a bare 403.
  if (status === 403) return new ResnetServeError('FORBIDDEN', { path: pathOf(request) }, { cause: error });
  if (status >= 400 && status < 500) {
    // Bad URL encoding, broken JSON, a bad Content-Length...: the client's fault, described by the library.
    return new ResnetServeError('BAD_REQUEST', fastifyError?.message ?? 'Malformed request.', { cause: error });
  }
  return unexpected(error);
}

/** INTERNAL for a failure nobody expected; HTTP answers replace its message with the request id (sendError). */
export function unexpected(cause: unknown): ResnetServeError {
  return new ResnetServeError('INTERNAL', 'An unexpected error occurred.', { cause });
}

/** CLIENT_ABORTED: the client closed the connection; nobody reads the answer, the log and /metrics record it. */
export function clientAborted(cause?: unknown): ResnetServeError {
  return new ResnetServeError('CLIENT_ABORTED', undefined, { cause });
}

/**
 * FILE_MISSING in the words a curl user needs: the route that was called and the part it reads the image from
 * (its `upload` config; `file` as /predict names it).
 */
export function missingFile(request: FastifyRequest, cause?: unknown): ResnetServeError {
  const part = request.routeOptions.config?.upload?.part ?? 'file';
  return new ResnetServeError('FILE_MISSING', { route: `${request.method} ${pathOf(request)}`, part }, { cause });
}

/** The path the client asked for, without the query. */
function pathOf(request: FastifyRequest): string {
  return request.url.split('?')[0] ?? '/';
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
  // Answering before the whole body arrived: body-guard.ts closes the connection after a bounded lingering read.
  const retryAfter = RETRY_AFTER_SECONDS[error.code];
  if (retryAfter !== undefined) reply.header('retry-after', String(retryAfter));
  return reply.code(error.statusCode).type('application/json; charset=utf-8').send(body);
}

/** Installs the one error handler and the 404 / 405 handler on the root instance. */
export function installErrorHandling(app: FastifyInstance): void {
  app.setErrorHandler((error, request, reply) => {
    const mapped = request.raw.socket?.destroyed === true ? clientAborted(error) : toResnetServeError(error, request);
    // Expected failures are described by the request's one log line (its code); only the unexpected get a stack.
    if (mapped.code === 'INTERNAL') request.log.error({ err: error }, 'unexpected error');
    return sendError(request, reply, mapped);
  });
  const routes = routeTable(app);
  app.setNotFoundHandler((request, reply) => {
    const path = pathOf(request);
    const allowed = routes.methodsFor(path);
    if (allowed.length > 0 && !allowed.includes(request.method)) {
      reply.header('allow', allowed.join(', '));
      return sendError(
        request,
        reply,
        new ResnetServeError('METHOD_NOT_ALLOWED', { method: request.method, path, allowed }, { details: { allow: allowed } }),
      );
    }
    return sendError(request, reply, new ResnetServeError('NOT_FOUND', { method: request.method, path }));
  });
}

/**
 * The routes' methods by path, collected as routes are added (so routes registered later count too), for the
 * `Allow` header of a 405. Wildcard routes (the static files' `/*`) are left out: any path would match them.
 */
function routeTable(app: FastifyInstance): { methodsFor(path: string): string[] } {
  const routes: { pattern: RegExp; methods: string[] }[] = [];
  app.addHook('onRoute', (route) => {
    if (route.url.includes('*')) return;
    const methods = [route.method].flat();
    const source = route.url.replace(/[.+?^${}()|[\]\\]/g, '\\$&').replace(/:[^/]+/g, '[^/]+');
    routes.push({ pattern: new RegExp(`^${source}/?$`), methods });
  });
  return {
    methodsFor: (path) => [...new Set(routes.filter((route) => route.pattern.test(path)).flatMap((route) => route.methods))].sort(),
  };
}

/** A route schema's error responses: each status answers {@link ErrorBody}, so OpenAPI readers see every code. */
export function errorResponses<const S extends number>(...statuses: S[]): Record<S, { readonly $ref: 'ErrorBody#' }> {
  return Object.fromEntries(statuses.map((status) => [status, { $ref: 'ErrorBody#' }])) as Record<S, { readonly $ref: 'ErrorBody#' }>;
}
