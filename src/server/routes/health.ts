import type { FastifyPluginAsync } from 'fastify';
import type { ModelRegistry } from '../model-registry.js';

const statusSchema = {
  type: 'object',
  required: ['status'],
  properties: { status: { type: 'string' } },
} as const;

/**
 * GET /healthz: the process is alive (never touches the model, so it answers even when the queue is full).
 * GET /readyz: 200 only between "every model loaded at start is loaded and warmed up" and "shutdown began".
 */
export const healthRoutes: FastifyPluginAsync<{ models: ModelRegistry }> = async (app, { models }) => {
  app.get('/healthz', { schema: { summary: 'Liveness', response: { 200: statusSchema } }, config: { probe: true } }, async () => ({
    status: 'ok',
  }));

  app.get(
    '/readyz',
    { schema: { summary: 'Readiness', response: { 200: statusSchema, 503: { $ref: 'ErrorBody#' } } }, config: { probe: true } },
    async () => {
      const readiness = models.readiness();
      if (!readiness.ready) throw readiness.reason;
      return { status: 'ready' };
    },
  );
};
