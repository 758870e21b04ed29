import Fastify, { type FastifyInstance, type FastifyServerOptions } from 'fastify';
import { DEFAULTS } from '../config.js';
import { invalidArgument } from '../errors.js';
import { ClassifierSlot, type ClassifierLoader } from './classifier-slot.js';
import { errorBodySchema, installErrorHandling } from './errors.js';
import { countResponses, createServerMetrics, metricsPlugin } from './metrics.js';
import { registerOpenApi } from './openapi.js';
import { RequestLogController, installRequestLog } from './request-log.js';
import { configRoute } from './routes/config.js';
import { healthRoutes } from './routes/health.js';
import { MULTIPART_OVERHEAD_BYTES, predictRoute } from './routes/predict.js';
import { defaultWebRoot, staticFiles } from './static.js';

declare module 'fastify' {
  interface FastifyInstance {
    /** The app's classifier: loading state for /readyz, the instance for /predict. */
    readonly classifierSlot: ClassifierSlot;
  }
}

export interface AppLimits {
  /** Largest accepted upload in bytes. Default `DEFAULTS.maxUploadBytes` (10 MiB). */
  maxUploadBytes?: number;
  /**
   * Pixel limit the classifier enforces, published at GET /config for the page. Default
   * `DEFAULTS.maxPixels` (40 MP). Pass the same value to the classifier.
   */
  maxPixels?: number;
  /** Classes returned when `top` is absent. Default `DEFAULTS.topK` (3). */
  topK?: number;
  /** Largest accepted `top`. Default `DEFAULTS.maxTopK` (20). */
  maxTopK?: number;
}

export interface AppOptions extends AppLimits {
  /** Called once when the app becomes ready; /readyz answers 503 until it resolves. */
  loadClassifier: ClassifierLoader;
  /** Fastify/pino logger options. Default `false` (silent). */
  logger?: FastifyServerOptions['logger'];
  /** Directory of the built page. Default {@link defaultWebRoot}. */
  webRoot?: string;
}

type NormalisedOptions = Required<AppLimits> & Pick<AppOptions, 'loadClassifier' | 'logger'> & { webRoot: string };

function normaliseOptions(options: AppOptions): NormalisedOptions {
  if (typeof options.loadClassifier !== 'function') {
    throw invalidArgument('loadClassifier', 'a function returning a Promise<Classifier>', options.loadClassifier);
  }
  const positive = (name: keyof AppLimits, fallback: number): number => {
    const value = options[name] ?? fallback;
    if (!Number.isSafeInteger(value) || value < 1) throw invalidArgument(name, 'a positive integer', value);
    return value;
  };
  const maxTopK = positive('maxTopK', DEFAULTS.maxTopK);
  if (maxTopK > 1000) throw invalidArgument('maxTopK', 'an integer in 1..1000 (ImageNet has 1000 classes)', maxTopK);
  const topK = positive('topK', DEFAULTS.topK);
  if (topK > maxTopK) throw invalidArgument('topK', `an integer in 1..${maxTopK} (maxTopK)`, topK);
  return {
    loadClassifier: options.loadClassifier,
    logger: options.logger ?? false,
    webRoot: options.webRoot ?? defaultWebRoot(),
    maxUploadBytes: positive('maxUploadBytes', DEFAULTS.maxUploadBytes),
    maxPixels: positive('maxPixels', DEFAULTS.maxPixels),
    topK,
    maxTopK,
  };
}

/**
 * Builds the HTTP app without listening, so tests can use `inject()`. The classifier starts loading
 * when the app becomes ready (first `inject`, `ready()` or `listen()`); closing the app waits for
 * in-flight requests, then closes the classifier.
 *
 * @throws ResnetServeError INVALID_ARGUMENT when a limit is not a positive integer or topK > maxTopK.
 * @example
 * const app = await buildApp({ loadClassifier: () => createClassifier({ model: 'resnet18.onnx' }) });
 * const res = await app.inject({ method: 'GET', url: '/healthz' }); // 200 {"status":"ok"}
 */
export async function buildApp(options: AppOptions): Promise<FastifyInstance> {
  const opts = normaliseOptions(options);
  const app = Fastify({
    logger: opts.logger,
    logController: new RequestLogController(),
    bodyLimit: opts.maxUploadBytes + MULTIPART_OVERHEAD_BYTES,
    // A request that arrives while closing gets our NOT_READY body from the routes, not Fastify's bare 503.
    return503OnClosing: false,
    requestIdHeader: 'x-request-id',
    ajv: { customOptions: { removeAdditional: true, useDefaults: true, coerceTypes: true, allErrors: false } },
  });
  const metrics = createServerMetrics();
  const slot = new ClassifierSlot(opts.loadClassifier, metrics.observer);
  app.decorate('classifierSlot', slot);

  installErrorHandling(app);
  installRequestLog(app);
  countResponses(app, metrics);
  app.addHook('onSend', async (request, reply) => {
    reply.header('x-request-id', request.id);
    // Fastify adds `Connection: close` only to requests that arrive after close() began; an in-flight
    // response on a keep-alive socket would otherwise hold server.close() open until keepAliveTimeout.
    if (slot.state === 'closing' || slot.state === 'closed') reply.header('connection', 'close');
  });
  app.addSchema(errorBodySchema);
  await registerOpenApi(app);

  await app.register(healthRoutes, { slot });
  await app.register(configRoute, {
    config: { maxUploadBytes: opts.maxUploadBytes, maxPixels: opts.maxPixels, topK: opts.topK, maxTopK: opts.maxTopK },
  });
  await app.register(predictRoute, { slot, metrics, maxUploadBytes: opts.maxUploadBytes, topK: opts.topK, maxTopK: opts.maxTopK });
  await app.register(metricsPlugin, { metrics });
  await app.register(staticFiles, { root: opts.webRoot });

  app.addHook('onReady', async () => {
    slot.load().then(
      (classifier) => app.log.info({ model: classifier.modelName, precision: classifier.precision }, 'model ready'),
      (error: unknown) => app.log.error({ err: error }, 'model failed to load'),
    );
  });
  app.addHook('preClose', async () => slot.beginShutdown());
  // onClose runs after the server stopped accepting and in-flight requests finished.
  app.addHook('onClose', async () => slot.close());
  return app;
}
