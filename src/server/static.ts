import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import fastifyStatic from '@fastify/static';
import type { FastifyPluginAsync } from 'fastify';

/**
 * Where `scripts/build-web.mjs` put the page. Resolved from this module, never the cwd: from
 * dist/server/ it is the sibling dist/web/; when the sources run directly (vitest) it is the repo's dist/web/.
 */
export function defaultWebRoot(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  const sibling = resolve(here, '..', 'web');
  return existsSync(join(sibling, 'app.js')) ? sibling : resolve(here, '..', '..', 'dist', 'web');
}

/** Serves the page at /. Unknown paths fall through to the JSON 404 handler. */
export const staticFiles: FastifyPluginAsync<{ root: string }> = async (app, { root }) => {
  if (!existsSync(join(root, 'index.html'))) {
    app.log.warn({ root }, 'the web page is not built (run `npm run build`); / will answer 404');
    return;
  }
  await app.register(fastifyStatic, {
    root,
    // Hashless file names: let the browser revalidate instead of caching a stale bundle after an upgrade.
    cacheControl: true,
    maxAge: 0,
    schemaHide: true,
  });
};
