import Fastify, { type FastifyInstance, type FastifyServerOptions } from 'fastify';
import { argumentRule, callable, integerInRange } from '../guards.js';
import { DEFAULTS, option } from '../settings.js';
import { installAccessControl } from './access.js';
import { installBodyGuard } from './body-guard.js';
import { type ClassifierLoader, ClassifierSlot } from './classifier-slot.js';
import { clientErrorHandler, installConnectionCap, serverFactory } from './connections.js';
import { errorBodySchema, installErrorHandling, sendError, toResnetServeError } from './errors.js';
import { countResponses, createServerMetrics, metricsPlugin, type ServerMetrics } from './metrics.js';
import { isolateCrossOrigin, type OnDeviceModel, onDeviceRoutes } from './on-device.js';
import { packageJson, registerOpenApi } from './openapi.js';
import { oipRestRoutes } from './protocols/oip/rest/routes.js';
import { torchserveRoutes } from './protocols/torchserve/routes.js';
import { installQuietGc } from './quiet-gc.js';
import { installRequestLog, RequestLogController } from './request-log.js';
import { configRoute } from './routes/config.js';
import { healthRoutes } from './routes/health.js';
import { predictRoute } from './routes/predict.js';
import { installSecurityHeaders, requestId } from './security-headers.js';
import { defaultWebRoot, staticFiles } from './static.js';
import { MULTIPART_OVERHEAD_BYTES } from './upload.js';

declare module 'fastify' {
  interface FastifyInstance {
    /** The app's classifier: loading state for /readyz, the instance for /predict. */
    readonly classifierSlot: ClassifierSlot;
    /** The app's metrics, which the gRPC service (on a port of its own) reports to as well. */
    readonly serverMetrics: ServerMetrics;
  }
}

export interface AppLimits {
  /** Largest accepted upload in bytes. Default and range: the `maxUploadBytes` setting (10 MiB). */
  maxUploadBytes?: number;
  /**
   * Pixel limit, published at GET /config for the page and handed to the loader, so the classifier enforces the
   * same value. Default: the `maxPixels` setting (40 MP).
   */
  maxPixels?: number;
  /** Classes returned when `top` is absent. Default: the `topK` setting (3). */
  topK?: number;
  /** Largest accepted `top`, 1..1000. Default `DEFAULTS.maxTopK` (20). */
  maxTopK?: number;
  /** Images in one Open Inference Protocol request. Default and range: the `maxInferImages` setting (8). */
  maxInferImages?: number;
  /** The model's name in Open Inference Protocol and TorchServe URLs. Default: the `modelName` setting (`resnet18`). */
  modelName?: string;
}

/** How the server treats connections and exposure; every default and range is the same key's in src/settings.ts. */
export interface AppHardening {
  /** Longest silence inside a request body before 408 UPLOAD_TIMEOUT, in ms. Default 10 s. */
  bodyTimeoutMs?: number;
  /** Longest wait for the request line and headers before 408 REQUEST_TIMEOUT, in ms. Default 20 s. */
  headersTimeoutMs?: number;
  /** Longest time to receive a whole request before 408 REQUEST_TIMEOUT, in ms; at least `headersTimeoutMs`. Default 120 s. */
  receiveTimeoutMs?: number;
  /** Idle keep-alive connections are closed after this long, in ms. Default 5 s. */
  keepAliveTimeoutMs?: number;
  /** Connections past this many get 503 TOO_MANY_CONNECTIONS, health probes excepted. Default 512. */
  maxConnections?: number;
  /** When set, inference routes need `Authorization: Bearer <apiKey>`. Default none. */
  apiKey?: string;
  /** Comma-separated origins allowed to call inference routes cross-origin, or `*`. Default none (same origin only). */
  corsOrigins?: string;
  /** Requests a minute per client address on inference routes; 0 for none. Default 0. */
  rateLimit?: number;
  /** Path of the Prometheus metrics, or `off`. Default `/metrics`. */
  metricsPath?: string;
  /** Path of the API docs page, or `off` (which also drops /openapi.json). Default `/docs`. */
  docsPath?: string;
}

export interface AppOptions extends AppLimits, AppHardening {
  /** Called once when the app becomes ready; /readyz answers 503 until it resolves. */
  loadClassifier: ClassifierLoader;
  /** Fastify/pino logger options. Default `false` (silent). */
  logger?: FastifyServerOptions['logger'];
  /** Directory of the built page. Default {@link defaultWebRoot}. */
  webRoot?: string;
  /** The model the page's on-device mode downloads (GET /on-device); without it the mode is off. Default: off. */
  onDevice?: OnDeviceModel;
}

type NormalisedOptions = Required<AppLimits> &
  Required<Omit<AppHardening, 'apiKey' | 'corsOrigins' | 'metricsPath' | 'docsPath'>> &
  Pick<AppOptions, 'loadClassifier' | 'logger' | 'onDevice'> & {
    webRoot: string;
    apiKey: string | undefined;
    corsOrigins: string[];
    metricsPath: string | undefined;
    docsPath: string | undefined;
  };

/** ImageNet's class count: no model of ours has more classes to rank. */
const MAX_CLASSES = 1000;

/** A path setting: `off` for none, else an absolute path. */
function pathOption(name: 'metricsPath' | 'docsPath', value: string | undefined): string | undefined {
  const path = option(name, value);
  return path === 'off' ? undefined : path;
}

function normaliseOptions(options: AppOptions): NormalisedOptions {
  const maxTopK = integerInRange('maxTopK', options.maxTopK ?? DEFAULTS.maxTopK, 1, MAX_CLASSES);
  const headersTimeoutMs = option('headersTimeoutMs', options.headersTimeoutMs);
  const receiveTimeoutMs = option('receiveTimeoutMs', options.receiveTimeoutMs);
  // Node refuses a headers timeout longer than the request timeout.
  argumentRule(
    receiveTimeoutMs >= headersTimeoutMs,
    `receiveTimeoutMs (${receiveTimeoutMs} ms) must be at least headersTimeoutMs (${headersTimeoutMs} ms)`,
  );
  return {
    loadClassifier: callable<ClassifierLoader>('loadClassifier', options.loadClassifier, 'a function returning a Promise<Classifier>'),
    logger: options.logger ?? false,
    webRoot: options.webRoot ?? defaultWebRoot(),
    onDevice: options.onDevice,
    maxUploadBytes: option('maxUploadBytes', options.maxUploadBytes),
    maxPixels: option('maxPixels', options.maxPixels),
    topK: integerInRange('topK', options.topK ?? DEFAULTS.topK, 1, maxTopK),
    maxTopK,
    bodyTimeoutMs: option('bodyTimeoutMs', options.bodyTimeoutMs),
    headersTimeoutMs,
    receiveTimeoutMs,
    keepAliveTimeoutMs: option('keepAliveTimeoutMs', options.keepAliveTimeoutMs),
    maxConnections: option('maxConnections', options.maxConnections),
    apiKey: option('apiKey', options.apiKey),
    corsOrigins: (option('corsOrigins', options.corsOrigins) ?? '')
      .split(',')
      .map((origin) => origin.trim())
      .filter((origin) => origin !== ''),
    rateLimit: option('rateLimit', options.rateLimit),
    metricsPath: pathOption('metricsPath', options.metricsPath),
    docsPath: pathOption('docsPath', options.docsPath),
    maxInferImages: option('maxInferImages', options.maxInferImages),
    modelName: option('modelName', options.modelName),
  };
}

/**
 * Builds the HTTP app without listening, so tests can use `inject()`. The classifier starts loading
 * when the app becomes ready (first `inject`, `ready()` or `listen()`); closing the app waits for
 * in-flight requests, then closes the classifier.
 *
 * @throws ResnetServeError INVALID_ARGUMENT when a limit is outside its range in the settings table, or topK > maxTopK.
 * @example
 * const app = await buildApp({ loadClassifier: () => createClassifier({ model: 'resnet18.onnx' }) });
 * const res = await app.inject({ method: 'GET', url: '/healthz' }); // 200 {"status":"ok"}
 */
export async function buildApp(options: AppOptions): Promise<FastifyInstance> {
  const opts = normaliseOptions(options);
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
  const slot = new ClassifierSlot(opts.loadClassifier, { observer: metrics.observer, maxPixels: opts.maxPixels });
  app.decorate('classifierSlot', slot);
  app.decorate('serverMetrics', metrics);

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
    config: { maxUploadBytes: opts.maxUploadBytes, maxPixels: opts.maxPixels, topK: opts.topK, maxTopK: opts.maxTopK },
  });
  await app.register(predictRoute, { slot, metrics, maxUploadBytes: opts.maxUploadBytes, topK: opts.topK, maxTopK: opts.maxTopK });
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
  if (opts.onDevice !== undefined) await app.register(onDeviceRoutes, { onDevice: opts.onDevice });
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
