import { createHash, timingSafeEqual } from 'node:crypto';
import rateLimit from '@fastify/rate-limit';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { ResnetServeError } from '../errors.js';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** An inference route: the API key, the rate limit and the cross-origin policy apply to it. */
    inference?: boolean;
  }
}

export interface AccessOptions {
  /** When set, inference routes need `Authorization: Bearer <apiKey>`. */
  apiKey: string | undefined;
  /** Origins allowed to call inference routes from a browser page elsewhere; `['*']` for any. Empty: same origin only. */
  corsOrigins: readonly string[];
  /** Requests per minute per client address on inference routes; 0 for no limit. */
  rateLimitPerMinute: number;
}

/** SHA-256 first, so the comparison takes the same time whatever the lengths (timingSafeEqual needs equal lengths). */
const digest = (text: string): Buffer => createHash('sha256').update(text).digest();

/**
 * Access control for exposed deployments, on every route whose config says `inference: true` (routes added later
 * included): an optional API key (constant-time), a cross-origin policy (off by default: a page on another origin
 * can neither read answers nor make the server work for it) and an optional per-address rate limit
 * (@fastify/rate-limit). Health probes, /metrics and the page are never behind them.
 */
export async function installAccessControl(app: FastifyInstance, options: AccessOptions): Promise<void> {
  const expected = options.apiKey === undefined ? undefined : digest(options.apiKey);
  const anyOrigin = options.corsOrigins.includes('*');
  const allowedOrigin = (origin: string): boolean => anyOrigin || options.corsOrigins.includes(origin);

  app.addHook('onRequest', async (request, reply) => {
    if (request.routeOptions.config.inference !== true) return;
    const origin = request.headers.origin;
    if (origin !== undefined && !sameOrigin(request, origin)) {
      if (!allowedOrigin(origin)) {
        throw originRefused(origin);
      }
      allowCors(reply, anyOrigin ? '*' : origin);
    }
    if (expected !== undefined && !keyMatches(request, expected)) {
      reply.header('www-authenticate', 'Bearer realm="resnet-serve"');
      throw unauthorized();
    }
  });

  if (options.corsOrigins.length > 0) {
    // Preflight for cross-origin calls with an Authorization header: answered for allowed origins only, one
    // OPTIONS route per inference path, naming every method the path takes.
    const methodsByUrl = new Map<string, Set<string>>();
    app.addHook('onRoute', (route) => {
      if (route.config?.inference !== true) return;
      const known = methodsByUrl.get(route.url);
      const methods = [route.method].flat();
      if (known !== undefined) {
        for (const method of methods) known.add(method);
        return;
      }
      const allowed = new Set(methods);
      methodsByUrl.set(route.url, allowed);
      app.options(route.url, { schema: { hide: true } }, async (request, reply) => {
        const origin = request.headers.origin;
        if (origin === undefined || !allowedOrigin(origin)) {
          throw originRefused(origin);
        }
        allowCors(reply, anyOrigin ? '*' : origin);
        reply.header('access-control-allow-methods', [...allowed].join(', '));
        reply.header('access-control-allow-headers', 'authorization, content-type, x-request-id');
        reply.header('access-control-max-age', '600');
        return reply.code(204).send();
      });
    });
  }

  if (options.rateLimitPerMinute > 0) {
    await app.register(rateLimit, {
      max: options.rateLimitPerMinute,
      timeWindow: 60_000,
      allowList: (request) => request.routeOptions.config.inference !== true,
      errorResponseBuilder: (_request, context) =>
        new ResnetServeError(
          'RATE_LIMITED',
          { limitPerMinute: context.max, retryAfter: context.after },
          { details: { limitPerMinute: context.max, retryAfterMs: context.ttl } },
        ),
    });
  }
}

function keyMatches(request: FastifyRequest, expected: Buffer): boolean {
  return bearerMatches(request.headers.authorization, expected);
}

/** `Authorization: Bearer <key>` naming the key whose SHA-256 is `expected`, compared in constant time. */
function bearerMatches(header: string | undefined, expected: Buffer): boolean {
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header ?? '');
  return match !== null && timingSafeEqual(digest(match[1] ?? ''), expected);
}

/**
 * The API key check for other transports (the gRPC service's `authorization` metadata): a function that says
 * whether an Authorization value carries `apiKey`, or `undefined` when no key is set.
 */
export function apiKeyCheck(apiKey: string | undefined): ((authorization: string | undefined) => boolean) | undefined {
  if (apiKey === undefined) return undefined;
  const expected = digest(apiKey);
  return (authorization) => bearerMatches(authorization, expected);
}

/** UNAUTHORIZED in the words of every transport. */
export function unauthorized(): ResnetServeError {
  return new ResnetServeError('UNAUTHORIZED');
}

/** FORBIDDEN for a cross-origin call (or its preflight) from an origin `--cors-origin` does not list. */
function originRefused(origin: string | undefined): ResnetServeError {
  return new ResnetServeError('FORBIDDEN', { origin }, origin === undefined ? {} : { details: { origin } });
}

/** `Origin` names the page's scheme, host and port; same origin when it names this server as the client reached it. */
function sameOrigin(request: FastifyRequest, origin: string): boolean {
  try {
    return new URL(origin).host === request.headers.host;
  } catch {
    return false;
  }
}

function allowCors(reply: FastifyReply, origin: string): void {
  reply.header('access-control-allow-origin', origin);
  reply.header('vary', 'Origin');
}
