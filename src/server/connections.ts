import { createServer, type RequestListener, type Server, STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import type { FastifyInstance } from 'fastify';
import { ResnetServeError } from '../errors.js';
import type { ServerMetrics } from './metrics.js';
import { exhaustionCode, openFiles } from './resource-exhaustion.js';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** A health probe: answered even past `maxConnections` (kubelet and load balancers must still see the process). */
    probe?: boolean;
  }
}

export interface ConnectionLimits {
  /** Longest wait for the request line and headers (Node's `headersTimeout`). */
  headersTimeoutMs: number;
  /** Longest time to receive a whole request, headers and body (Node's `requestTimeout`). */
  receiveTimeoutMs: number;
  /** How long an idle keep-alive connection is kept. */
  keepAliveTimeoutMs: number;
  /** Connections beyond this many get 503 TOO_MANY_CONNECTIONS, except on health probes. */
  maxConnections: number;
}

/**
 * Node checks the headers and request timeouts on a timer of this period (`connectionsCheckingInterval`, default
 * 30 s, which would let a 10 s headers timeout fire anywhere between 10 and 40 s). Walking the connection list
 * once a second costs microseconds.
 */
const TIMEOUT_CHECK_MS = 1000;
/** Node's default, stated: request line plus headers larger than this get 431. */
const MAX_HEADER_BYTES = 16 * 1024;
/**
 * Connections accepted past `maxConnections`, only to answer them (503, or a probe): beyond these, Node drops new
 * connections without a word (server.maxConnections), so no flood can take more file descriptors.
 */
const OVERFLOW_CONNECTIONS = 64;

const OVER_CAPACITY = Symbol('overCapacity');
const REFUSED = Symbol('refusedByParser');
type CountedSocket = Socket & { [OVER_CAPACITY]?: boolean };

/**
 * Fastify's `serverFactory`: the HTTP/1.1 server with the limits (Fastify would leave the headers timeout at
 * Node's 60 s and check it only every 30 s).
 */
export function serverFactory(limits: ConnectionLimits): (handler: RequestListener) => Server {
  return (handler) => {
    const server = createServer(
      {
        headersTimeout: limits.headersTimeoutMs,
        requestTimeout: limits.receiveTimeoutMs,
        connectionsCheckingInterval: TIMEOUT_CHECK_MS,
        maxHeaderSize: MAX_HEADER_BYTES,
        keepAliveTimeout: limits.keepAliveTimeoutMs,
      },
      handler,
    );
    return server;
  };
}

/**
 * Counts connections and refuses the ones past `maxConnections` with 503 TOO_MANY_CONNECTIONS (health probes
 * excepted), then closes them. Slow clients are bounded by the headers, body and receive timeouts instead, so
 * 200 slowloris connections cost 200 idle sockets and nothing else.
 */
export function installConnectionCap(app: FastifyInstance, maxConnections: number): void {
  let open = 0;
  app.server.maxConnections = maxConnections + OVERFLOW_CONNECTIONS;
  // accept() fails with EMFILE when every descriptor is taken; Node emits that on the server, where an event
  // without a listener ends the process. libuv has already dropped the connection (uv__emfile_trick): count it.
  app.server.on('error', (error: Error) => {
    const errno = exhaustionCode(error);
    if (errno !== undefined) app.serverMetrics.reportExhaustion('accept', errno, error);
    // Any other error is Fastify's to handle while it listens (EADDRINUSE…), else a bug for the last-resort handler.
    else if (app.server.listenerCount('error') === 1) throw error;
  });
  app.server.on('connection', (socket: CountedSocket) => {
    open++;
    if (open > maxConnections) socket[OVER_CAPACITY] = true;
    socket.once('close', () => {
      open--;
    });
  });
  app.addHook('onRequest', async (request, reply) => {
    if ((request.raw.socket as CountedSocket | null)?.[OVER_CAPACITY] !== true || request.routeOptions.config.probe === true) return;
    reply.header('connection', 'close');
    throw new ResnetServeError('TOO_MANY_CONNECTIONS', { maxConnections }, { details: { maxConnections } });
  });
}

/** Descriptors kept free past the connections: model files, /proc reads, the gRPC port, logs, sharp's temporaries. */
const SPARE_FILES = 32;

/**
 * Warns (one JSON log line, `event: "open_files_limit"`) when the connections the server may hold, with the
 * overflow it accepts only to refuse, could take the process's last descriptors (RLIMIT_NOFILE, as `ulimit -n`
 * shows it, minus those open now): then accept() fails with EMFILE before the cap is reached. Raise the limit
 * (`ulimit -n`, the container's `nofile`) or lower `--max-connections`.
 */
export function warnIfAboveOpenFiles(log: FastifyInstance['log'], maxConnections: number): void {
  const files = openFiles();
  if (files === undefined) return;
  const room = files.limit - files.open - SPARE_FILES;
  if (maxConnections + OVERFLOW_CONNECTIONS <= room) return;
  log.warn(
    {
      event: 'open_files_limit',
      openFilesLimit: files.limit,
      openFiles: files.open,
      maxConnections,
      overflowConnections: OVERFLOW_CONNECTIONS,
      suggestedMaxConnections: Math.max(1, room - OVERFLOW_CONNECTIONS),
    },
    `--max-connections ${maxConnections} (plus ${OVERFLOW_CONNECTIONS} accepted only to be refused) is above the ${room} file descriptors this process has left (ulimit -n ${files.limit}); raise ulimit -n or lower --max-connections`,
  );
}

/** What Node's HTTP parser reports (llhttp `HPE_*`, Node's timeouts), as a registry error. */
function parserError(code: string | undefined): ResnetServeError {
  if (code === 'HPE_HEADER_OVERFLOW') return new ResnetServeError('HEADERS_TOO_LARGE', { limitBytes: MAX_HEADER_BYTES });
  if (code === 'ERR_HTTP_REQUEST_TIMEOUT') return new ResnetServeError('REQUEST_TIMEOUT');
  return new ResnetServeError('BAD_REQUEST', 'The request is not valid HTTP/1.1.');
}

/**
 * Fastify's `clientErrorHandler`: what Node's HTTP parser refuses before any route runs (malformed requests,
 * unknown methods, Transfer-Encoding with Content-Length, headers over 16 KiB, the headers and receive
 * timeouts) gets the same `{error, code}` JSON as every other refusal, one log line and a count in /metrics.
 * A client that reset the connection gets nothing, and an info line.
 */
export function clientErrorHandler(metrics: ServerMetrics) {
  return function onClientError(this: FastifyInstance, error: Error & { code?: string }, socket: Socket): void {
    const refusable = socket as Socket & { [REFUSED]?: true; _httpMessage?: { headersSent?: boolean } };
    // The parser reports every chunk of a refused request again; one answer, one log line, one count.
    if (refusable[REFUSED] === true) return;
    refusable[REFUSED] = true;
    // A reset, or the body cut short under a request the routes are handling: the client left. The request (if
    // any) is logged and counted as CLIENT_ABORTED by the onRequestAbort hook.
    if (error.code === 'ECONNRESET' || error.code === 'HPE_INVALID_EOF_STATE' || socket.destroyed) {
      if (refusable._httpMessage === undefined)
        this.log.info({ code: 'CLIENT_ABORTED', reason: error.code }, 'client closed the connection');
      socket.destroy();
      return;
    }
    const { code, statusCode: status, message } = parserError(error.code);
    const body = JSON.stringify({ error: message, code, details: { reason: error.code ?? error.message } });
    this.log.info({ statusCode: status, code, reason: error.code }, 'request refused by the HTTP parser');
    metrics.countRequest('(http parser)', 'unknown', status);
    // As Node's own handler: never write over a response that has begun.
    if (socket.writable && refusable._httpMessage?.headersSent !== true) {
      socket.end(
        `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\n` +
          `Content-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
      );
    }
    setTimeout(() => socket.destroy(), 1000).unref();
  };
}
