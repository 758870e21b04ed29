import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyServerOptions } from 'fastify';
import { argumentRule, callable, type IntegerOption, integerOption, oneOf, optionalText, routePathOrOff } from '../guards.js';
import { MAX_PIXELS } from '../image/limits.js';
import { TOP_K } from '../labels/postprocess.js';
import type { ModelContract } from '../model/contract.js';
import type { ClassifierLoader } from './classifier-slot.js';
import { MODEL_LOADING, type ModelLoading, type RegisteredModel } from './model-registry.js';
import type { OnDeviceModel } from './on-device.js';

/** How the HTTP app is built; every option but `loadClassifier` is optional, its default and range written here. */
export interface AppOptions {
  /**
   * The one model's loader, called when the app becomes ready (/readyz answers 503 until it resolves) and again for
   * each load after an unload. Give this (with `model`, `modelName`, `onDevice`) or `models`.
   */
  loadClassifier?: ClassifierLoader;
  /**
   * Several models, each under its name (a model repository): every protocol's model routes, `/predict?model=`, the
   * repository extension. Instead of `loadClassifier`, `model`, `modelName` and `onDevice`.
   */
  models?: readonly RegisteredModel[];
  /** The model of requests that name none (`/predict`, the page, `resnet-18` in TorchServe's URLs). Default: the first. */
  defaultModel?: string;
  /**
   * Megabytes (10^6 bytes) of models loaded at once, counted by their ONNX files' sizes; past it the least recently
   * used idle model is unloaded, and loaded again on its next request. 0 (the default): no budget.
   */
  modelMemoryBudgetMb?: number;
  /** `startup` (the default): every model loads at start; `first-use`: each loads on its first request. */
  modelLoading?: ModelLoading;
  /** Longest a request waits for its model to load on demand, in ms, 1 000..600 000. Default 60 s. */
  modelLoadWaitMs?: number;
  /** Largest accepted upload in bytes, at least 1. Default 10 MiB. */
  maxUploadBytes?: number;
  /**
   * Pixel limit, at least 1, published at GET /config for the page and handed to the loader: the loaded classifier
   * must enforce the same value (the app refuses one that does not). Default 40 000 000 (`MAX_PIXELS`).
   */
  maxPixels?: number;
  /** Classes returned when `top` is absent, 1..20 (`TOP_K`; `top` itself goes up to 20). Default 3. */
  topK?: number;
  /** Images in one Open Inference Protocol request, 1..64. Default 8. */
  maxInferImages?: number;
  /**
   * The model served (`readModelContract(path)`), so the protocols describe it (OIP metadata, /config, the page) from
   * the start; the loaded classifier must run it. Default: learnt from the classifier once it is loaded.
   */
  model?: ModelContract;
  /**
   * The model's name in Open Inference Protocol, gRPC and TorchServe URLs and answers. Default: `model.name` (the
   * architecture, or the `.onnx` file's stem), else `resnet18`.
   */
  modelName?: string;
  /** Longest silence inside a request body before 408 UPLOAD_TIMEOUT, in ms, 100..3 600 000. Default 10 s. */
  bodyTimeoutMs?: number;
  /** Longest wait for the request line and headers before 408 REQUEST_TIMEOUT, in ms, 100..3 600 000. Default 20 s. */
  headersTimeoutMs?: number;
  /**
   * Longest time to receive a whole request before 408 REQUEST_TIMEOUT, in ms, 100..3 600 000 and at least
   * `headersTimeoutMs` (Node refuses a headers timeout longer than the request timeout). Default 120 s.
   */
  receiveTimeoutMs?: number;
  /** Idle keep-alive connections are closed after this long, in ms, 1..600 000. Default 5 s. */
  keepAliveTimeoutMs?: number;
  /** Connections past this many get 503 TOO_MANY_CONNECTIONS, health probes excepted; 1..1 000 000. Default 512. */
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
  /** Fastify/pino logger options. Default `false` (silent); `startServer`'s default is info level. */
  logger?: FastifyServerOptions['logger'];
  /** Directory of the built page. Default {@link defaultWebRoot}. */
  webRoot?: string;
  /** The model the page's on-device mode downloads (GET /on-device); without it the mode is off. Default: off. */
  onDevice?: OnDeviceModel;
}

/** `startServer`'s options: the app's, and where it listens. */
export interface StartOptions extends AppOptions {
  /** Interface to listen on. Default `127.0.0.1`. */
  host?: string;
  /** TCP port, 0..65 535; 0 picks a free one. Default 8080. */
  port?: number;
  /** Port of the Open Inference Protocol's gRPC service on the same host, 0..65 535; 0 leaves it off. Default 0. */
  grpcPort?: number;
  /**
   * Largest gRPC message received, in bytes; grpc-js refuses a larger one with RESOURCE_EXHAUSTED before decoding it.
   * 0 (the default) derives it from the largest valid ModelInferRequest: {@link grpcReceiveLimit}.
   */
  grpcMaxReceiveBytes?: number;
  /** Concurrent gRPC calls (HTTP/2 streams) on one connection, 1..1 000 (`grpc.max_concurrent_streams`). Default 8. */
  grpcMaxStreams?: number;
  /** ModelInfer calls in progress on the whole service, 1..100 000; more get RESOURCE_EXHAUSTED `QUEUE_FULL`. Default 16. */
  grpcMaxCalls?: number;
}

const INTEGER_OPTIONS = Object.freeze({
  port: { default: 8080, min: 0, max: 65_535 },
  grpcPort: { default: 0, min: 0, max: 65_535 },
  grpcMaxReceiveBytes: { default: 0, min: 0 },
  grpcMaxStreams: { default: 8, min: 1, max: 1_000 },
  grpcMaxCalls: { default: 16, min: 1, max: 100_000 },
  maxUploadBytes: { default: 10 * 1024 * 1024, min: 1 },
  maxPixels: MAX_PIXELS,
  topK: TOP_K,
  maxInferImages: { default: 8, min: 1, max: 64 },
  bodyTimeoutMs: { default: 10_000, min: 100, max: 3_600_000 },
  headersTimeoutMs: { default: 20_000, min: 100, max: 3_600_000 },
  receiveTimeoutMs: { default: 120_000, min: 100, max: 3_600_000 },
  keepAliveTimeoutMs: { default: 5_000, min: 1, max: 600_000 },
  maxConnections: { default: 512, min: 1, max: 1_000_000 },
  rateLimit: { default: 0, min: 0 },
  modelMemoryBudgetMb: { default: 0, min: 0, max: 1_000_000 },
  modelLoadWaitMs: { default: 60_000, min: 1_000, max: 600_000 },
}) satisfies Record<string, IntegerOption>;

const TEXT_OPTIONS = Object.freeze({
  host: { default: '127.0.0.1' },
  modelName: { default: 'resnet18' },
  metricsPath: { default: '/metrics' },
  docsPath: { default: '/docs' },
  apiKey: { default: undefined },
  corsOrigins: { default: undefined },
  defaultModel: { default: undefined },
}) satisfies Record<string, { default: string | undefined }>;

/** How the models load, and which one answers requests that name none. */
export const MODEL_LOADING_OPTION = Object.freeze({ default: 'startup' as ModelLoading, choices: MODEL_LOADING });

/**
 * What the server's process is started with, not an option of the app: V8 fixes its heap limit when the process
 * starts. `heapLimitMb` is V8's `--max-old-space-size` in MiB; 0 (the default) keeps the limit Node was started
 * with, which the image's ENTRYPOINT sets to 256 MiB for deploy/'s 384 MiB memory limit (Dockerfile): the JS heap
 * holds small objects only (uploads, tensors and decoded pixels are external memory, bounded by --max-upload, the
 * JSON bounds and --decode-budget), so a leak or an unforeseen allocation ends as a heap limit the process
 * reports rather than the kernel's OOM kill of the container. A value Node was not started with restarts `serve`.
 */
export const PROCESS_OPTIONS = Object.freeze({
  heapLimitMb: { default: 0, min: 0, max: 65_536 },
}) satisfies Record<string, IntegerOption>;

/** The defaults and ranges documented on {@link StartOptions}, keyed by option; the CLI's flags read them too. */
export const SERVER_OPTIONS = Object.freeze({ ...INTEGER_OPTIONS, ...TEXT_OPTIONS, modelLoading: MODEL_LOADING_OPTION });

type IntegerKey = keyof typeof INTEGER_OPTIONS;

/** The options as the app, `startServer` and the gRPC service use them: defaults filled in, every value checked. */
export interface ResolvedServerOptions extends Readonly<Record<IntegerKey, number>> {
  /** The models served: `models`, or the one of `loadClassifier` under `modelName`. */
  readonly models: readonly RegisteredModel[];
  readonly defaultModel: string | undefined;
  readonly modelLoading: ModelLoading;
  readonly host: string;
  readonly apiKey: string | undefined;
  /** The allowed origins, split and trimmed; empty for same origin only. */
  readonly corsOrigins: readonly string[];
  /** `undefined` for `off`. */
  readonly metricsPath: string | undefined;
  /** `undefined` for `off`. */
  readonly docsPath: string | undefined;
  readonly logger: NonNullable<FastifyServerOptions['logger']>;
  readonly webRoot: string;
}

/**
 * Fills in the defaults and checks every option once; `buildApp` calls it and publishes the result as
 * `app.serverOptions`, which `startServer` and the gRPC service read.
 * @throws ResnetServeError INVALID_ARGUMENT naming the option, or when `receiveTimeoutMs < headersTimeoutMs`.
 */
export function resolveServerOptions(options: StartOptions): ResolvedServerOptions {
  const integers = Object.fromEntries(
    (Object.entries(INTEGER_OPTIONS) as [IntegerKey, IntegerOption][]).map(([key, spec]) => [key, integerOption(key, options[key], spec)]),
  ) as Record<IntegerKey, number>;
  argumentRule(
    integers.receiveTimeoutMs >= integers.headersTimeoutMs,
    `receiveTimeoutMs (${integers.receiveTimeoutMs} ms) must be at least headersTimeoutMs (${integers.headersTimeoutMs} ms)`,
  );
  const path = (name: 'metricsPath' | 'docsPath'): string | undefined => {
    const value = routePathOrOff(name, options[name] ?? TEXT_OPTIONS[name].default);
    return value === 'off' ? undefined : value;
  };
  return Object.freeze({
    ...integers,
    grpcMaxReceiveBytes: integers.grpcMaxReceiveBytes === 0 ? grpcReceiveLimit(integers) : integers.grpcMaxReceiveBytes,
    models: modelsOf(options),
    defaultModel: optionalText('defaultModel', options.defaultModel),
    modelLoading: oneOf('modelLoading', options.modelLoading ?? MODEL_LOADING_OPTION.default, MODEL_LOADING),
    host: optionalText('host', options.host) ?? TEXT_OPTIONS.host.default,
    apiKey: optionalText('apiKey', options.apiKey),
    corsOrigins: (optionalText('corsOrigins', options.corsOrigins) ?? '')
      .split(',')
      .map((origin) => origin.trim())
      .filter((origin) => origin !== ''),
    metricsPath: path('metricsPath'),
    docsPath: path('docsPath'),
    logger: options.logger ?? false,
    webRoot: options.webRoot ?? defaultWebRoot(),
  });
}

/**
 * The models of `options`: `models` as given, or the one model of `loadClassifier`, named `modelName`, else its
 * contract's name (the architecture, or the `.onnx` file's stem), else `resnet18`.
 * @throws ResnetServeError INVALID_ARGUMENT when both or neither are given.
 */
function modelsOf(options: AppOptions): readonly RegisteredModel[] {
  if (options.models !== undefined) {
    argumentRule(
      options.loadClassifier === undefined &&
        options.model === undefined &&
        options.modelName === undefined &&
        options.onDevice === undefined,
      'give either models (a repository) or loadClassifier with model, modelName and onDevice (one model), not both',
    );
    argumentRule(Array.isArray(options.models) && options.models.length > 0, 'models must list at least one model');
    return options.models.map((model, i) => ({
      ...model,
      name: optionalText(`models[${i}].name`, model.name) ?? '',
      loadClassifier: callable<ClassifierLoader>(
        `models[${i}].loadClassifier`,
        model.loadClassifier,
        'a function returning a Promise<Classifier>',
      ),
    }));
  }
  const loadClassifier = callable<ClassifierLoader>('loadClassifier', options.loadClassifier, 'a function returning a Promise<Classifier>');
  const name = optionalText('modelName', options.modelName) ?? options.model?.name ?? TEXT_OPTIONS.modelName.default;
  return [{ name, loadClassifier, model: options.model, onDevice: options.onDevice }];
}

/** Room for the protobuf framing and fields around the images of one ModelInferRequest. */
const GRPC_MESSAGE_OVERHEAD_BYTES = 64 * 1024;

/**
 * The largest valid ModelInferRequest: `maxInferImages` uploads of `maxUploadBytes`, each with the 4-byte length
 * of raw BYTES contents, plus {@link GRPC_MESSAGE_OVERHEAD_BYTES}; 83 951 648 bytes with the defaults. An FP32
 * tensor request is smaller (N × 602 112 bytes).
 */
export function grpcReceiveLimit(options: { maxInferImages: number; maxUploadBytes: number }): number {
  return options.maxInferImages * (options.maxUploadBytes + 4) + GRPC_MESSAGE_OVERHEAD_BYTES;
}

/**
 * Where `scripts/build-web.mjs` put the page. Resolved from this module, never the cwd: from
 * dist/server/ it is the sibling dist/web/; when the sources run directly (vitest) it is the repo's dist/web/.
 */
export function defaultWebRoot(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  const sibling = resolve(here, '..', 'web');
  return existsSync(join(sibling, 'app.js')) ? sibling : resolve(here, '..', '..', 'dist', 'web');
}
