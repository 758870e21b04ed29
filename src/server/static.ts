import { existsSync } from 'node:fs';
import { join } from 'node:path';
import fastifyStatic from '@fastify/static';
import type { FastifyPluginAsync } from 'fastify';

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
