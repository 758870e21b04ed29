import { type FastifyInstance, type FastifyReply, type FastifyRequest, LogController } from 'fastify';
import type { Timings } from '../classifier/index.js';
import type { ErrorCode } from '../errors.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** Set by POST /predict so the request's log line carries the classifier's timings. */
    classifyTimings: Timings | null;
    /** Set by every inference route so the request's log line names the model that answered. */
    modelId: string | null;
    /** Set by the error handler so the request's log line carries the stable code. */
    errorCode: ErrorCode | null;
  }
}

/**
 * Probes and scrapes arrive every few seconds; at info level they would drown the request log. KServe and
 * TorchServe deployments probe the protocols' own health routes.
 */
const QUIET_ROUTES = new Set(['/healthz', '/readyz', '/metrics', '/v2/health/live', '/v2/health/ready', '/ping']);

/**
 * One log line per request, written by Fastify's own "request completed" hook point: request id
 * (`reqId`, bound by Fastify's child logger), method, URL, status, response time and, when present,
 * the error code, the model that answered (its id) and the classifier's decode / inference / total timings.
 */
export class RequestLogController extends LogController {
  override incomingRequest(): void {
    // Folded into the completion line: one line per request.
  }

  override routeNotFound(): void {
    // The completion line records the 404 and its NOT_FOUND code.
  }

  override requestCompleted(error: Error | null | undefined, request: FastifyRequest, reply: FastifyReply): void {
    const line = {
      method: request.method,
      url: request.url,
      statusCode: reply.statusCode,
      responseTimeMs: Math.round(reply.elapsedTime * 100) / 100,
      ...(request.errorCode === null ? {} : { code: request.errorCode }),
      ...(request.modelId === null ? {} : { model: request.modelId }),
      ...(request.classifyTimings === null ? {} : { timings_ms: request.classifyTimings }),
      ...(error ? { err: error } : {}),
    };
    if (error) reply.log.error(line, 'request errored');
    else if (QUIET_ROUTES.has(request.routeOptions.url ?? '')) reply.log.debug(line, 'request completed');
    else reply.log.info(line, 'request completed');
  }
}

/** Declares the request fields the log line reads, and logs requests whose client left before the answer. */
export function installRequestLog(app: FastifyInstance): void {
  app.decorateRequest('classifyTimings', null);
  app.decorateRequest('modelId', null);
  app.decorateRequest('errorCode', null);
  // A client hanging up is ordinary (a closed tab, a cancelled upload): one info line, no stack.
  app.addHook('onRequestAbort', async (request) => {
    request.log.info(
      { method: request.method, url: request.url, code: 'CLIENT_ABORTED', bodyBytes: request.bodyBytesReceived },
      'client closed the connection',
    );
  });
}
