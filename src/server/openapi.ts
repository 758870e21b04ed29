import { readFileSync } from 'node:fs';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { FastifyInstance } from 'fastify';
import { DOCS_CONTENT_SECURITY_POLICY } from './security-headers.js';

/** Same depth from src/server and dist/server. */
export const packageJson = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
  version: string;
  description: string;
};

/**
 * OpenAPI 3 document built from the route schemas, served at /openapi.json, and a browsable page at
 * `docsPath` (default /docs). @fastify/swagger-ui serves Swagger UI's files from its own package and leaves `validatorUrl`
 * null, so the docs page works offline and calls no third party. Must be registered before the routes:
 * @fastify/swagger collects them from the onRoute hook.
 */
export async function registerOpenApi(app: FastifyInstance, docsPath: string): Promise<void> {
  await app.register(swagger, {
    openapi: {
      openapi: '3.0.3',
      info: { title: 'resnet-serve', version: packageJson.version, description: packageJson.description },
    },
    // Name shared schemas by their $id (components/schemas/ErrorBody) instead of def-0.
    refResolver: { buildLocalReference: (json, _baseUri, _fragment, i) => (typeof json.$id === 'string' ? json.$id : `def-${i}`) },
  });
  // BaseLayout: the API without StandaloneLayout's top bar, whose SVG logo is an inline <style> any strict policy
  // refuses, and whose box loads other URLs' documents. The plugin's own policy (`staticCSP: true`) would also
  // send `upgrade-insecure-requests`, which breaks the page over plain http from another host.
  await app.register(swaggerUi, {
    routePrefix: docsPath,
    uiConfig: { validatorUrl: null, layout: 'BaseLayout' },
    staticCSP: DOCS_CONTENT_SECURITY_POLICY,
  });
  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());
}
