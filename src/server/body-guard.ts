import type { Socket } from 'node:net';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { ResnetServeError } from '../errors.js';
import { sendError } from './errors.js';
import { bodyLimitOf, bodyTooLarge } from './upload.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** Body bytes the HTTP parser has delivered so far (after de-chunking); 0 for a body-less request. */
    bodyBytesReceived: number;
  }
}

export interface BodyGuardOptions {
  /** No body byte for this long: 408 UPLOAD_TIMEOUT. */
  bodyTimeoutMs: number;
}

/**
 * After an early answer (413, 408, 415 mid-upload…) the connection closes, but first the rest of the body is read
 * and dropped for at most this long and this many bytes, as nginx's lingering close does: closing a socket with
 * unread bytes in its receive buffer sends RST, and clients that read the response only once they have sent
 * the body (Node's fetch, Python's http.client, browsers) then report EPIPE or ECONNRESET instead of the 413.
 */
const LINGER_MS = 5_000;
const LINGER_BYTES = 16 * 1024 * 1024;

/** Monkey-patched IncomingMessage#push, which Node's HTTP parser calls with each piece of body (lib/_http_common.js). */
type Push = (chunk: Buffer | null, encoding?: BufferEncoding) => boolean;

/**
 * Bounds every request body, for every route (those registered later included), by the route's `bodyLimit`
 * (Fastify's route option; the app's default is the upload limit plus the multipart envelope), whatever the
 * framing:
 * - a declared Content-Length over the limit is refused before a byte is read, and before `100 Continue`;
 * - chunked bodies and bodies that keep coming are counted as the parser delivers them and refused the moment
 *   they pass the limit, so at most the limit plus one socket read is ever taken in;
 * - a body that stalls for `bodyTimeoutMs` is refused with 408 UPLOAD_TIMEOUT;
 * - after any answer sent before the body ended, the connection lingers (bounded) and then closes.
 * The refusal reaches the route as an error on the request stream (multipart and Fastify's body parsers listen
 * for it), or is sent directly when nothing reads the body yet.
 */
export function installBodyGuard(app: FastifyInstance, options: BodyGuardOptions): void {
  app.decorateRequest('bodyBytesReceived', 0);
  // Node answers `Expect: 100-continue` itself unless someone listens; here the request goes on to the routes,
  // and "100 Continue" is said only in preParsing: after every onRequest check (this length check, the API key,
  // the rate limit) has let the request through, just before its body is read.
  app.server.on('checkContinue', (req, res) => app.server.emit('request', req, res));

  app.addHook('onRequest', async (request, reply) => {
    const limit = bodyLimitOf(request);
    const declared = declaredLength(request);
    if (declared !== undefined && declared > limit) throw bodyTooLarge(limit, { declaredBytes: declared });
    if (request.raw.complete || (declared === 0 && request.headers['transfer-encoding'] === undefined)) return;
    guardBody(request, reply, limit, options.bodyTimeoutMs);
  });
  app.addHook('preParsing', async (request, reply) => {
    if (request.headers.expect?.toLowerCase() === '100-continue' && !request.raw.complete) reply.raw.writeContinue();
  });

  // Any answer sent before the body ended closes the connection after a bounded lingering read.
  app.addHook('onSend', async (request, reply) => {
    if (!request.raw.complete && request.raw.socket !== null) {
      reply.header('connection', 'close');
      lingerOnClose(request.raw.socket);
    }
  });
}

function declaredLength(request: FastifyRequest): number | undefined {
  const header = request.headers['content-length'];
  if (header === undefined) return undefined;
  const value = Number(header);
  return Number.isSafeInteger(value) && value >= 0 ? value : undefined;
}

function guardBody(request: FastifyRequest, reply: FastifyReply, limit: number, bodyTimeoutMs: number): void {
  const raw = request.raw;
  const push: Push = raw.push.bind(raw);
  let refused = false;
  const refuse = (error: ResnetServeError): void => {
    refused = true;
    clearTimeout(stall);
    // Multipart and Fastify's body parsers listen for errors on the request; with no reader yet, answer here.
    if (raw.listenerCount('error') > 0) raw.emit('error', error);
    else if (!reply.sent) sendError(request, reply, error);
  };
  // True while the parser holds body bytes nobody has read yet (Node stops reading the socket then): the
  // silence that follows is ours, not the client's, so the stall clock starts over instead of refusing.
  let waitingOnUs = false;
  const stall = setTimeout(() => {
    if (waitingOnUs) {
      stall.refresh();
      return;
    }
    refuse(
      new ResnetServeError('UPLOAD_TIMEOUT', { bodyTimeoutMs }, { details: { bodyTimeoutMs, receivedBytes: request.bodyBytesReceived } }),
    );
  }, bodyTimeoutMs);
  stall.unref();
  raw.once('close', () => clearTimeout(stall));

  (raw as { push: Push }).push = (chunk, encoding) => {
    if (chunk === null) {
      clearTimeout(stall);
      // The whole body is in: a connection lingering after an early answer can close now, without a reset.
      if (isLingering(raw.socket)) raw.socket?.destroy();
      return push(null);
    }
    request.bodyBytesReceived += chunk.length;
    if (refused) {
      // Lingering after the answer: drop what arrives; past the allowance, stop reading for good.
      if (request.bodyBytesReceived > limit + LINGER_BYTES) raw.socket?.destroy();
      return true;
    }
    if (request.bodyBytesReceived > limit) {
      refuse(bodyTooLarge(limit, { receivedBytes: request.bodyBytesReceived }));
      return true;
    }
    const more = push(chunk, encoding);
    waitingOnUs = !more;
    stall.refresh();
    return more;
  };
  const read = raw._read.bind(raw);
  raw._read = (size: number): void => {
    waitingOnUs = false;
    if (!refused && !raw.complete) stall.refresh();
    read(size);
  };
}

const LINGERING = Symbol('lingering');
type LingeringSocket = Socket & { [LINGERING]?: 'armed' | 'lingering' };

function isLingering(socket: Socket | null): boolean {
  return (socket as LingeringSocket | null)?.[LINGERING] === 'lingering';
}

/**
 * Replaces what Node's HTTP server does once a `Connection: close` response is written (socket.destroySoon():
 * FIN, then close as soon as it is flushed, RST if body bytes are still unread) with a half-close that keeps
 * reading, discarding through the request's guarded push, until the client closes or the allowance runs out.
 */
function lingerOnClose(socket: Socket): void {
  const lingering = socket as LingeringSocket;
  if (lingering[LINGERING] !== undefined) return;
  lingering[LINGERING] = 'armed';
  socket.destroySoon = function lingerThenDestroy(this: Socket): void {
    lingering[LINGERING] = 'lingering';
    if (this.writable) this.end();
    const timer = setTimeout(() => this.destroy(), LINGER_MS);
    timer.unref();
    this.once('close', () => clearTimeout(timer));
  };
}
