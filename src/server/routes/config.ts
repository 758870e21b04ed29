import type { FastifyPluginAsync } from 'fastify';

/** The limits a client should check before uploading (the page does). */
export interface PublicConfig {
  maxUploadBytes: number;
  maxPixels: number;
  topK: number;
  maxTopK: number;
}

/** GET /config: the server's upload limits, so the page can refuse an oversized file before sending it. */
export const configRoute: FastifyPluginAsync<{ config: PublicConfig }> = async (app, { config }) => {
  const body = Object.freeze({ ...config });
  app.get(
    '/config',
    {
      schema: {
        summary: 'Upload limits and top-k bounds',
        response: {
          200: {
            type: 'object',
            required: ['maxUploadBytes', 'maxPixels', 'topK', 'maxTopK'],
            properties: {
              maxUploadBytes: { type: 'integer' },
              maxPixels: { type: 'integer' },
              topK: { type: 'integer' },
              maxTopK: { type: 'integer' },
            },
          },
        },
      },
    },
    async () => body,
  );
};
