import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { FastifyInstance } from 'fastify';

/** The directives of the page's policy, by name; the /docs policy changes one of them. */
const PAGE_DIRECTIVES: Readonly<Record<string, string>> = {
  'default-src': "'self'",
  'script-src': "'self' 'wasm-unsafe-eval'",
  'img-src': "'self' blob:",
  'object-src': "'none'",
  'base-uri': "'none'",
  'form-action': "'self'",
  'frame-ancestors': "'none'",
};

function policy(directives: Readonly<Record<string, string>>): string {
  return Object.entries(directives)
    .map(([name, value]) => `${name} ${value}`)
    .join('; ');
}

/**
 * The page's policy: everything from this origin only, no inline script or style (the page has none), preview
 * images from `blob:` URLs, never framed by another site, no plugins, forms and `<base>` pinned to this origin.
 * `'wasm-unsafe-eval'` lets the on-device mode compile ONNX Runtime's and the resampler's WebAssembly (CSP 3
 * treats WebAssembly compilation as eval); it allows no JavaScript eval.
 */
const CONTENT_SECURITY_POLICY = policy(PAGE_DIRECTIVES);

/**
 * Swagger UI's (at `docsPath`): the page's policy plus `data:` images, which swagger-ui.css draws its select
 * arrows and icons with. Nothing inline is needed: openapi.ts uses Swagger UI's BaseLayout, whose top bar
 * (StandaloneLayout's) is the only part that renders an inline `<style>` (in its SVG logo).
 */
export const DOCS_CONTENT_SECURITY_POLICY = policy({ ...PAGE_DIRECTIVES, 'img-src': "'self' data:" });

/**
 * On every response: `nosniff` (a JSON error or an upload echoed in a message is never run as script),
 * `Referrer-Policy: no-referrer`, `X-Frame-Options: DENY` for browsers older than frame-ancestors, and the page's
 * Content-Security-Policy unless the route set its own (/docs sets DOCS_CONTENT_SECURITY_POLICY).
 */
export function installSecurityHeaders(app: FastifyInstance): void {
  app.addHook('onSend', async (_request, reply) => {
    reply.header('x-content-type-options', 'nosniff');
    reply.header('referrer-policy', 'no-referrer');
    reply.header('x-frame-options', 'DENY');
    if (!reply.hasHeader('content-security-policy')) reply.header('content-security-policy', CONTENT_SECURITY_POLICY);
  });
}

/** A client's request id is kept only if it is 1-64 characters of `A-Z a-z 0-9 . _ : -`: no HTML, no log injection. */
const CLIENT_REQUEST_ID = /^[\w.:-]{1,64}$/;

/**
 * Fastify's `genReqId`: the client's `X-Request-Id` when it is a plausible id, else a random UUID, which a
 * client's id cannot collide with by accident (a counter such as `req-1` could).
 */
export function requestId(request: IncomingMessage): string {
  const given = request.headers['x-request-id'];
  return typeof given === 'string' && CLIENT_REQUEST_ID.test(given) ? given : randomUUID();
}
