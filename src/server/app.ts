import Fastify, { type FastifyInstance } from 'fastify';
import { TOP_K } from '../labels/postprocess.js';
import { installAccessControl } from './access.js';
import { installBodyGuard } from './body-guard.js';
import { clientErrorHandler, installConnectionCap, serverFactory } from './connections.js';
import { errorBodySchema, installErrorHandling, sendError, toResnetServeError } from './errors.js';
import { countResponses, createServerMetrics, metricsPlugin, type ServerMetrics } from './metrics.js';
import { ModelRegistry, type RegistryEvent } from './model-registry.js';
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
    /** The app's models by name: each one's classifier, loads and unloads, readiness for /readyz. */
    readonly models: ModelRegistry;
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
 * // Several models: buildApp({ models: [{ name: 'resnet50', loadClassifier: … }, …], modelMemoryBudgetMb: 200 })
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
  const models = new ModelRegistry(
    opts.models,
    {
      observer: metrics.observer,
      maxPixels: opts.maxPixels,
      defaultModel: opts.defaultModel,
      memoryBudgetBytes: opts.modelMemoryBudgetMb * 1e6,
      loading: opts.modelLoading,
      loadWaitMs: opts.modelLoadWaitMs,
      onEvent: (event) => logRegistryEvent(app, event),
    },
    metrics.models,
  );
  app.decorate('models', models);
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
    if (models.closing) reply.header('connection', 'close');
  });
  isolateCrossOrigin(app);
  app.addSchema(errorBodySchema);
  if (opts.docsPath !== undefined) await registerOpenApi(app, opts.docsPath);

  await app.register(healthRoutes, { models });
  await app.register(configRoute, {
    models,
    limits: { maxUploadBytes: opts.maxUploadBytes, maxPixels: opts.maxPixels, topK: opts.topK, maxTopK: TOP_K.max },
  });
  await app.register(predictRoute, { models, metrics, maxUploadBytes: opts.maxUploadBytes, topK: opts.topK, maxTopK: TOP_K.max });
  await app.register(oipRestRoutes, {
    models,
    metrics,
    serverVersion: packageJson.version,
    maxInferImages: opts.maxInferImages,
    maxUploadBytes: opts.maxUploadBytes,
  });
  await app.register(torchserveRoutes, {
    models,
    metrics,
    maxUploadBytes: opts.maxUploadBytes,
  });
  if (opts.metricsPath !== undefined) await app.register(metricsPlugin, { metrics, path: opts.metricsPath });
  if (opts.models.some((model) => model.onDevice !== undefined)) await app.register(onDeviceRoutes, { models });
  await app.register(staticFiles, { root: opts.webRoot });

  app.addHook('onReady', async () => {
    models.start().catch(() => undefined);
  });
  app.addHook('preClose', async () => models.beginShutdown());
  // onClose runs after the server stopped accepting and in-flight requests finished.
  app.addHook('onClose', async () => models.close());
  return app;
}

function logRegistryEvent(app: FastifyInstance, event: RegistryEvent): void {
  switch (event.kind) {
    case 'loaded': {
      const contract = app.models.contract(event.model);
      app.log.info({ model: event.id, name: event.model, precision: contract?.precision }, 'model ready');
      return;
    }
    case 'load-failed':
      app.log.error({ err: event.error, name: event.model }, 'model failed to load');
      return;
    default:
      app.log.info({ name: event.model, reason: event.reason }, 'model unloaded');
  }
}
