import type { FastifyInstance, FastifyPluginAsync } from 'fastify';
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import type { ClassifierObserver, Timings } from '../classifier/index.js';
import { ERROR_CODES } from '../errors.js';
import type { RegistryGauges } from './model-registry.js';
import { type ExhaustionReport, skipIfExhausted } from './resource-exhaustion.js';

/** Milliseconds; from ~1 ms (a cached small decode) to the 30 s request timeout. */
const MS_BUCKETS = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10_000, 30_000];
const BATCH_BUCKETS = [1, 2, 3, 4, 6, 8, 12, 16, 32];

/** The metrics one app reports, on a registry of its own so tests can build many apps. */
export interface ServerMetrics {
  /** The app's metrics merged with the process-wide default metrics; what GET /metrics serves. */
  readonly registry: Registry;
  /** Wired into the classifier at load time. */
  readonly observer: ClassifierObserver;
  /** What the model registry reports: which models are loaded, their bytes, and unloads. */
  readonly models: RegistryGauges;
  observeTimings(timings: Timings): void;
  countRequest(route: string, method: string, status: number): void;
  /**
   * Counts (in `resnet_resource_exhausted_total`, process-wide) and logs one sample, timer tick or accept that ran
   * out of descriptors or memory and was skipped.
   */
  readonly reportExhaustion: ExhaustionReport;
  /** Logs every exhaustion the process reports with `log` until the returned function is called. */
  logExhaustion(log: ExhaustionLog): () => void;
  /** Drops the app's metrics; the classifier may still call the observer afterwards, harmlessly. */
  clear(): void;
}

interface ProcessMetrics {
  registry: Registry;
  /** Counts one exhaustion and tells the listeners. */
  report: ExhaustionReport;
  /** Each app's logger, told of every exhaustion while the app lives. */
  listeners: Set<ExhaustionReport>;
}

/** The part of a pino logger the exhaustion reports use. */
export interface ExhaustionLog {
  warn(facts: object, message: string): void;
}

let processMetrics: ProcessMetrics | undefined;

/**
 * prom-client 15's `collectDefaultMetrics` starts a `monitorEventLoopDelay` histogram and a GC
 * `PerformanceObserver` on every call and returns no handle to stop them (lib/metrics/eventLoopLag.js:49,
 * lib/metrics/gc.js:55), so calling it per app would leak one of each per app. They describe the
 * process, not the app, so they are collected once per process and merged into each app's registry; so is the
 * count of exhaustions, which the process suffers whichever app notices.
 */
function defaultMetrics(): ProcessMetrics {
  if (processMetrics !== undefined) return processMetrics;
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const listeners = new Set<ExhaustionReport>();
  const exhausted = new Counter({
    name: 'resnet_resource_exhausted_total',
    help: 'Samples, timer ticks and accepted connections skipped because the process ran out of file descriptors (EMFILE, ENFILE) or memory (ENOMEM), by source and errno.',
    labelNames: ['source', 'errno'] as const,
    registers: [registry],
  });
  const report: ExhaustionReport = (source, errno, error) => {
    exhausted.inc({ source, errno });
    for (const listener of listeners) listener(source, errno, error);
  };
  // A collector that reads /proc under EMFILE must not fail the scrape: that one sample is skipped and counted
  // (prom-client guards some of its reads, not all: processOpenFileDescriptors, processMaxFileDescriptors).
  for (const metric of registry.getMetricsAsArray()) {
    const collectable = metric as { name: string; collect?: () => unknown };
    const collect = collectable.collect;
    if (typeof collect !== 'function') continue;
    collectable.collect = function collectOrSkip(this: unknown) {
      return skipIfExhausted(collectable.name, report, () => collect.call(this));
    };
  }
  processMetrics = { registry, report, listeners };
  return processMetrics;
}

export function createServerMetrics(): ServerMetrics {
  const own = new Registry();
  const registers = [own];
  const requests = new Counter({
    name: 'http_requests_total',
    help: 'HTTP requests answered, by route template, method and status.',
    labelNames: ['route', 'method', 'status'] as const,
    registers,
  });
  const histogram = (name: string, help: string): Histogram => new Histogram({ name, help, buckets: MS_BUCKETS, registers });
  const decode = histogram('resnet_decode_ms', 'Decoding, resizing and normalising one image, in ms.');
  const inference = histogram('resnet_inference_ms', 'The ONNX Runtime run of the batch the image rode in, in ms.');
  const total = histogram('resnet_classify_total_ms', 'Whole classification of one image, in ms.');
  const batchInference = histogram('resnet_batch_inference_ms', 'One ONNX Runtime run of a batch, in ms.');
  const batchSize = new Histogram({
    name: 'resnet_batch_size',
    help: 'Images per ONNX Runtime run.',
    buckets: BATCH_BUCKETS,
    registers,
  });
  const queueDepth = new Gauge({
    name: 'resnet_queue_depth',
    help: 'Requests waiting for or in inference.',
    registers,
  });

  const loaded = new Gauge({
    name: 'resnet_model_loaded',
    help: 'Whether the model is loaded (1) or not (0), by model name.',
    labelNames: ['model'] as const,
    registers,
  });
  const loadedBytes = new Gauge({
    name: 'resnet_models_loaded_bytes',
    help: "Bytes of the models loaded or loading, counted by their ONNX files' sizes (what the memory budget bounds).",
    registers,
  });
  const unloads = new Counter({
    name: 'resnet_model_unloads_total',
    help: 'Models unloaded, by model name and reason (`unloaded`: on request; `memory budget`: to make room).',
    labelNames: ['model', 'reason'] as const,
    registers,
  });

  const shared = defaultMetrics();
  return {
    registry: Registry.merge([own, shared.registry]),
    reportExhaustion: shared.report,
    observer: {
      onBatch(size, inferenceMs) {
        batchSize.observe(size);
        batchInference.observe(inferenceMs);
      },
      onQueueDepth(depth) {
        queueDepth.set(depth);
      },
    },
    models: {
      loaded: (model, isLoaded) => loaded.set({ model }, isLoaded ? 1 : 0),
      loadedBytes: (bytes) => loadedBytes.set(bytes),
      unloaded: (model, reason) => unloads.inc({ model, reason }),
    },
    observeTimings(timings) {
      decode.observe(timings.decode);
      inference.observe(timings.inference);
      total.observe(timings.total);
    },
    countRequest(route, method, status) {
      requests.inc({ route, method, status: String(status) });
    },
    logExhaustion(log) {
      const listener: ExhaustionReport = (source, errno, error) =>
        log.warn(
          { event: 'resource_exhausted', source, errno, syscall: error.syscall },
          `out of ${errno === 'ENOMEM' ? 'memory' : 'file descriptors'} (${errno}); ${source} skipped this time`,
        );
      shared.listeners.add(listener);
      return () => shared.listeners.delete(listener);
    },
    clear() {
      own.clear();
    },
  };
}

/** GET /metrics in Prometheus text format, and the request counter fed from every response. */
export const metricsPlugin: FastifyPluginAsync<{ metrics: ServerMetrics; path: string }> = async (app, { metrics, path }) => {
  app.get(path, { schema: { hide: true } }, async (_request, reply) => {
    reply.type(metrics.registry.contentType);
    return metrics.registry.metrics();
  });
};

/**
 * Counts every response, including 404s and errors; registered on the root instance so it sees all
 * routes. Unknown URLs are counted under one `not_found` label to keep the label set bounded.
 */
export function countResponses(app: FastifyInstance, metrics: ServerMetrics): void {
  app.addHook('onResponse', async (request, reply) => {
    const route = reply.statusCode === 404 && request.is404 ? 'not_found' : (request.routeOptions.url ?? 'not_found');
    metrics.countRequest(route, request.method, reply.statusCode);
  });
  app.addHook('onRequestAbort', async (request) => {
    metrics.countRequest(request.routeOptions.url ?? 'not_found', request.method, ERROR_CODES.CLIENT_ABORTED.status);
  });
  const stopLogging = metrics.logExhaustion(app.log);
  app.addHook('onClose', async () => {
    stopLogging();
    metrics.clear();
  });
}
