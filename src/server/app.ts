import Fastify, { type FastifyInstance } from 'fastify';
import { TOP_K } from '../labels/postprocess.js';
import { installAccessControl } from './access.js';
import { installBodyGuard } from './body-guard.js';
import { ClassifierSlot } from './classifier-slot.js';
import { clientErrorHandler, installConnectionCap, serverFactory } from './connections.js';
import { errorBodySchema, installErrorHandling, sendError, toResnetServeError } from './errors.js';
import { countResponses, createServerMetrics, metricsPlugin, type ServerMetrics } from './metrics.js';
import { isolateCrossOrigin, onDeviceRoutes } from './on-device.js';
import { packageJson, registerOpenApi } from './openapi.js';
import { type AppOptions, type ResolvedServerOptions, resolveServerOptions } from './options.js';
import { oipRestRoutes } from './protocols/oip/rest/routes.js';
import { torchserveRoutes } from './protocols/torchserve/routes.js';
import { installQuietGc } from './quiet-gc.js';
import { installRequestLog, RequestLogController } from './request-log.js';
import { configRoute } from './routes/config.js';
import { healthRoutes } from './routes/health.js';
import { predictRoute } from './routes/predict.js';
import { installSecurityHeaders, requestId } from './security-headers.js';
import { staticFiles } from './static.js';
import { MULTIPART_OVERHEAD_BYTES } from './upload.js';

declare module 'fastify' {
  interface FastifyInstance {
    /** The app's classifier: loading state for /readyz, the instance for /predict. */
    readonly classifierSlot: ClassifierSlot;
    /** The app's metrics, which the gRPC service (on a port of its own) reports to as well. */
    readonly serverMetrics: ServerMetrics;
    /** The options the app was built with, normalised once: what `startServer` and the gRPC service read. */
    readonly serverOptions: ResolvedServerOptions;
  }
}

export type { AppOptions } from './options.js';

/**
 * Builds the HTTP app without listening, so tests can use `inject()`. The classifier starts loading
 * when the app becomes ready (first `inject`, `ready()` or `listen()`); closing the app waits for
 * in-flight requests, then closes the classifier.
 *
 * @param options - also `startServer`'s host, port and grpcPort, which are checked here with the rest.
 * @throws ResnetServeError INVALID_ARGUMENT when an option is outside its range (./options.ts).
 * @example
 * const app = await buildApp({ loadClassifier: () => createClassifier({ model: 'resnet18.onnx' }) });
 * const res = await app.inject({ method: 'GET', url: '/healthz' }); // 200 {"status":"ok"}
 */
export async function buildApp(options: AppOptions): Promise<FastifyInstance> {
  const opts = resolveServerOptions(options);
  const metrics = createServerMetrics();
  const app = Fastify({
    logger: opts.logger,
    logController: new RequestLogController(),
    bodyLimit: opts.maxUploadBytes + MULTIPART_OVERHEAD_BYTES,
    // A request that arrives while closing gets our NOT_READY body from the routes, not Fastify's bare 503.
    return503OnClosing: false,
    requestIdHeader: false,
    genReqId: requestId,
    ajv: { customOptions: { removeAdditional: true, useDefaults: true, coerceTypes: true, allErrors: false } },
    serverFactory: serverFactory(opts),
    clientErrorHandler: clientErrorHandler(metrics),
    // A URL Fastify cannot decode (`/%ff`) gets the same JSON as every other refusal; no route hook runs for
    // it, so it is logged and counted here.
    frameworkErrors: (error, request, reply) => {
      const mapped = toResnetServeError(error, request);
      request.log.info({ method: request.method, url: request.url, statusCode: mapped.statusCode, code: mapped.code }, 'request refused');
      metrics.countRequest('(bad url)', request.method, mapped.statusCode);
      return sendError(request, reply, mapped);
    },
  });
  const slot = new ClassifierSlot(opts.loadClassifier, { observer: metrics.observer, maxPixels: opts.maxPixels, model: opts.model });
  app.decorate('classifierSlot', slot);
  app.decorate('serverMetrics', metrics);
  app.decorate('serverOptions', opts);

  installErrorHandling(app);
  installRequestLog(app);
  countResponses(app, metrics);
  installConnectionCap(app, opts.maxConnections);
  installBodyGuard(app, { bodyTimeoutMs: opts.bodyTimeoutMs });
  installQuietGc(app);
  installSecurityHeaders(app);
  await installAccessControl(app, { apiKey: opts.apiKey, corsOrigins: opts.corsOrigins, rateLimitPerMinute: opts.rateLimit });
  app.addHook('onSend', async (request, reply) => {
    reply.header('x-request-id', request.id);
    // Fastify adds `Connection: close` only to requests that arrive after close() began; an in-flight
    // response on a keep-alive socket would otherwise hold server.close() open until keepAliveTimeout.
    if (slot.state === 'closing' || slot.state === 'closed') reply.header('connection', 'close');
  });
  isolateCrossOrigin(app);
  app.addSchema(errorBodySchema);
  if (opts.docsPath !== undefined) await registerOpenApi(app, opts.docsPath);

  await app.register(healthRoutes, { slot });
  await app.register(configRoute, {
    slot,
    limits: { maxUploadBytes: opts.maxUploadBytes, maxPixels: opts.maxPixels, topK: opts.topK, maxTopK: TOP_K.max },
  });
  await app.register(predictRoute, { slot, metrics, maxUploadBytes: opts.maxUploadBytes, topK: opts.topK, maxTopK: TOP_K.max });
  await app.register(oipRestRoutes, {
    slot,
    metrics,
    modelName: opts.modelName,
    serverVersion: packageJson.version,
    maxInferImages: opts.maxInferImages,
    maxUploadBytes: opts.maxUploadBytes,
  });
  await app.register(torchserveRoutes, {
    slot,
    metrics,
    modelName: opts.modelName,
    maxUploadBytes: opts.maxUploadBytes,
  });
  if (opts.metricsPath !== undefined) await app.register(metricsPlugin, { metrics, path: opts.metricsPath });
  if (opts.onDevice !== undefined) await app.register(onDeviceRoutes, { onDevice: opts.onDevice, contract: opts.model });
  await app.register(staticFiles, { root: opts.webRoot });

  app.addHook('onReady', async () => {
    slot.load().then(
      (classifier) => app.log.info({ model: classifier.model.id, precision: classifier.model.precision }, 'model ready'),
      (error: unknown) => app.log.error({ err: error }, 'model failed to load'),
    );
  });
  app.addHook('preClose', async () => slot.beginShutdown());
  // onClose runs after the server stopped accepting and in-flight requests finished.
  app.addHook('onClose', async () => slot.close());
  return app;
}
