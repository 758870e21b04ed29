import type { FastifyInstance } from 'fastify';
import { CLASSIFIER_OPTIONS } from '../classifier/options.js';
import { messageOf, ResnetServeError } from '../errors.js';
import { buildApp } from './app.js';
import { warnIfAboveOpenFiles } from './connections.js';
import { LOG_OPTIONS } from './log.js';
import { packageJson } from './openapi.js';
import type { StartOptions } from './options.js';
import type { GrpcService } from './protocols/oip/grpc/server.js';

export type { StartOptions } from './options.js';

export interface ServerHandle {
  app: FastifyInstance;
  /** e.g. `http://127.0.0.1:8080`. */
  url: string;
  /** The gRPC service's port, when it runs. */
  grpcPort: number | undefined;
  /** Resolves once the models loaded at start are loaded and warmed up; rejects with the first load's error. Already handled. */
  ready: Promise<void>;
  /**
   * Graceful stop (idempotent): /readyz and new predictions answer 503 NOT_READY, the listener stops
   * accepting, in-flight requests finish, then each classifier finishes its queue and is released.
   */
  close(): Promise<void>;
}

/**
 * Listens, then loads the models in the background, so /healthz answers while they load.
 * Logs one line per request (id, status, response time, classifier timings) at info level by default.
 *
 * @throws ResnetServeError INVALID_ARGUMENT for a bad limit, port or host; PORT_IN_USE when the port is taken.
 * @example
 * const server = await startServer({ port: 0, loadClassifier: () => createClassifier({ model: 'resnet18.onnx' }) });
 * installShutdownHandlers(server);
 * await server.ready; // logs {"msg":"model ready","model":"resnet18-imagenet1k-v1","precision":"fp32"}
 */
export async function startServer(options: StartOptions): Promise<ServerHandle> {
  const app = await buildApp({ ...options, logger: options.logger ?? { ...LOG_OPTIONS } });
  const { host, port, grpcPort } = app.serverOptions;
  let url: string;
  try {
    url = await app.listen({ host, port });
  } catch (error) {
    await app.close();
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'EADDRINUSE') {
      throw new ResnetServeError(
        'PORT_IN_USE',
        `Another process already listens on ${host}:${port}; stop it, or choose another --port (or PORT).`,
        {
          cause: error,
          details: { host, port },
        },
      );
    }
    if (code === 'EACCES' || code === 'EADDRNOTAVAIL' || code === 'ENOTFOUND') {
      throw new ResnetServeError('INVALID_ARGUMENT', `Cannot listen on ${host}:${port} (${code}); choose another --host or --port.`, {
        cause: error,
        details: { host, port },
      });
    }
    throw error;
  }
  warnIfAboveOpenFiles(app.log, app.serverOptions.maxConnections);
  const grpc = grpcPort === 0 ? undefined : await startGrpc(app);
  const ready = app.models.start();
  ready.catch(() => undefined);
  let closing: Promise<void> | undefined;
  return {
    app,
    url,
    grpcPort: grpc?.port,
    ready,
    close() {
      // Both stop accepting at once; the classifier closes (in the app's onClose) only after its queue drained,
      // so gRPC calls in flight finish too. The process exits after this: a session still loading must end first
      // (bounded by the shutdown's forceAfterMs).
      closing ??= Promise.all([grpc?.close(), app.close()]).then(() => app.models.settled());
      return closing;
    },
  };
}

/**
 * Starts the gRPC service over the app's models and metrics. Imported only when asked for: @grpc/grpc-js and
 * the .proto cost about 11 MB of RSS (measured) that an HTTP-only server need not carry.
 */
async function startGrpc(app: FastifyInstance): Promise<GrpcService> {
  const { startGrpcService } = await import('./protocols/oip/grpc/server.js');
  const { host, grpcPort: port, maxInferImages, maxUploadBytes, apiKey } = app.serverOptions;
  const { grpcMaxReceiveBytes, grpcMaxStreams, grpcMaxCalls, receiveTimeoutMs } = app.serverOptions;
  try {
    return await startGrpcService({
      models: app.models,
      metrics: app.serverMetrics,
      serverVersion: packageJson.version,
      maxInferImages,
      maxUploadBytes,
      host,
      port,
      log: app.log,
      apiKey,
      maxMessageBytes: grpcMaxReceiveBytes,
      maxStreams: grpcMaxStreams,
      maxCalls: grpcMaxCalls,
      receiveTimeoutMs,
      // Its default until a classifier has loaded, as for the shutdown's drain below.
      requestTimeoutMs: app.models.requestTimeoutMs(CLASSIFIER_OPTIONS.requestTimeoutMs.default),
    });
  } catch (error) {
    await app.close();
    throw new ResnetServeError(
      'PORT_IN_USE',
      `The gRPC service cannot listen on ${host}:${port} (${messageOf(error)}); choose another --grpc-port.`,
      {
        cause: error,
        details: { host, port },
      },
    );
  }
}

export interface ShutdownOptions {
  /** Default `['SIGTERM', 'SIGINT']`. */
  signals?: NodeJS.Signals[];
  /**
   * Give up draining after this long and exit 1 (a stuck upload must not block a deploy forever). Default: the
   * loaded classifier's `requestTimeoutMs` (its default before it loaded) plus {@link DRAIN_MARGIN_MS}, judged
   * when the signal arrives.
   */
  forceAfterMs?: number;
  /** Injected for tests. Default `process.exit`. */
  exit?: (code: number) => void;
}

/** Past the request timeout, time for the last batch to run and its answers to be written. */
export const DRAIN_MARGIN_MS = 5000;

/**
 * On the first SIGTERM/SIGINT: close the server gracefully (see {@link ServerHandle.close}) and exit 0,
 * or 1 if closing failed or took longer than `forceAfterMs`. A second signal exits 1 at once.
 *
 * Also the last resort for a bug: an uncaught exception or unhandled rejection is logged (fatal), the server
 * marked not ready at once (/readyz 503, so the load balancer stops sending), the requests in flight drained as
 * for SIGTERM (within `forceAfterMs`), and the process exits 1, rather than Node's default of dying
 * mid-request. Failures while draining are logged too. Returns a function that removes every handler.
 */
export function installShutdownHandlers(handle: Pick<ServerHandle, 'app' | 'close'>, options: ShutdownOptions = {}): () => void {
  const signals = options.signals ?? ['SIGTERM', 'SIGINT'];
  const exit = options.exit ?? ((code: number) => process.exit(code));
  const log = handle.app.log;
  let shuttingDown = false;
  /** 0 for a signal; 1 once anything failed, even during a drain a signal began. */
  let exitCode = 0;

  const drain = (): void => {
    // The longest an admitted request can still wait is the classifier's own timeout, whatever it was set to.
    const requestTimeoutMs = handle.app.models.requestTimeoutMs(CLASSIFIER_OPTIONS.requestTimeoutMs.default);
    const forceAfterMs = options.forceAfterMs ?? requestTimeoutMs + DRAIN_MARGIN_MS;
    const force = setTimeout(() => {
      log.error({ forceAfterMs }, 'shutdown took too long; exiting');
      exit(1);
    }, forceAfterMs);
    force.unref();
    handle.close().then(
      () => {
        clearTimeout(force);
        log.info('shutdown complete');
        exit(exitCode);
      },
      (error: unknown) => {
        clearTimeout(force);
        log.error({ err: error }, 'shutdown failed');
        exit(1);
      },
    );
  };

  const onSignal = (signal: NodeJS.Signals): void => {
    if (shuttingDown) {
      log.warn({ signal }, 'second signal during shutdown; exiting now');
      exit(1);
      return;
    }
    shuttingDown = true;
    log.info({ signal }, 'shutting down: not ready, draining in-flight requests');
    drain();
  };

  let failed = false;
  const onFatal = (error: unknown, origin: string): void => {
    log.fatal({ err: error, origin }, 'uncaught failure: not ready, draining in-flight requests, then exiting 1');
    // Later failures are logged and the drain goes on: a timer that throws every second must not cut it short,
    // and the drain has its own deadline.
    if (failed) return;
    failed = true;
    exitCode = 1;
    handle.app.models.beginShutdown();
    if (shuttingDown) return;
    shuttingDown = true;
    drain();
  };
  const onRejection = (reason: unknown): void => onFatal(reason, 'unhandledRejection');

  for (const signal of signals) process.on(signal, onSignal);
  process.on('uncaughtException', onFatal);
  process.on('unhandledRejection', onRejection);
  return () => {
    for (const signal of signals) process.off(signal, onSignal);
    process.off('uncaughtException', onFatal);
    process.off('unhandledRejection', onRejection);
  };
}
