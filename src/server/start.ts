import type { FastifyInstance } from 'fastify';
import { messageOf, ResnetServeError } from '../errors.js';
import { DEFAULTS, option } from '../settings.js';
import { type AppOptions, buildApp } from './app.js';
import { packageJson } from './openapi.js';
import type { GrpcService } from './protocols/oip/grpc/server.js';

export interface StartOptions extends AppOptions {
  /** Interface to listen on. Default `DEFAULTS.host` (127.0.0.1). */
  host?: string;
  /** TCP port; 0 picks a free one. Default `DEFAULTS.port` (8080). */
  port?: number;
  /** Port of the Open Inference Protocol's gRPC service, on the same host; 0 (the default) leaves it off. */
  grpcPort?: number;
}

export interface ServerHandle {
  app: FastifyInstance;
  /** e.g. `http://127.0.0.1:8080`. */
  url: string;
  /** The gRPC service's port, when it runs. */
  grpcPort: number | undefined;
  /** Resolves once the model is loaded and warmed up; rejects with the loader's error. Already handled. */
  ready: Promise<void>;
  /**
   * Graceful stop (idempotent): /readyz and new predictions answer 503 NOT_READY, the listener stops
   * accepting, in-flight requests finish, then the classifier finishes its queue and is released.
   */
  close(): Promise<void>;
}

/**
 * Listens, then loads the classifier in the background, so /healthz answers while the model loads.
 * Logs one line per request (id, status, response time, classifier timings) at info level by default.
 *
 * @throws ResnetServeError INVALID_ARGUMENT for a bad limit, port or host; PORT_IN_USE when the port is taken.
 * @example
 * const server = await startServer({ port: 0, loadClassifier: () => createClassifier({ model: 'resnet18.onnx' }) });
 * installShutdownHandlers(server);
 * await server.ready; // logs {"msg":"model ready","model":"resnet18-imagenet1k-v1","precision":"fp32"}
 */
export async function startServer(options: StartOptions): Promise<ServerHandle> {
  const host = option('host', options.host);
  const port = option('port', options.port);
  const grpcPort = option('grpcPort', options.grpcPort);
  const app = await buildApp({ ...options, logger: options.logger ?? { level: 'info' } });
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
  const grpc = grpcPort === 0 ? undefined : await startGrpc(app, host, grpcPort, options);
  const ready = app.classifierSlot.load().then(() => undefined);
  ready.catch(() => undefined);
  let closing: Promise<void> | undefined;
  return {
    app,
    url,
    grpcPort: grpc?.port,
    ready,
    close() {
      // Both stop accepting at once; the classifier closes (in the app's onClose) only after its queue drained,
      // so gRPC calls in flight finish too.
      closing ??= Promise.all([grpc?.close(), app.close()]).then(() => undefined);
      return closing;
    },
  };
}

/**
 * Starts the gRPC service over the app's classifier and metrics. Imported only when asked for: @grpc/grpc-js and
 * the .proto cost about 11 MB of RSS (measured) that an HTTP-only server need not carry.
 */
async function startGrpc(app: FastifyInstance, host: string, port: number, options: StartOptions): Promise<GrpcService> {
  const { startGrpcService } = await import('./protocols/oip/grpc/server.js');
  try {
    return await startGrpcService({
      slot: app.classifierSlot,
      metrics: app.serverMetrics,
      modelName: option('modelName', options.modelName),
      serverVersion: packageJson.version,
      maxInferImages: option('maxInferImages', options.maxInferImages),
      maxUploadBytes: option('maxUploadBytes', options.maxUploadBytes),
      host,
      port,
      log: app.log,
      apiKey: option('apiKey', options.apiKey),
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
   * Give up draining after this long and exit 1 (a stuck upload must not block a deploy forever).
   * Default `DEFAULTS.requestTimeoutMs + 5000`.
   */
  forceAfterMs?: number;
  /** Injected for tests. Default `process.exit`. */
  exit?: (code: number) => void;
}

/**
 * On the first SIGTERM/SIGINT: close the server gracefully (see {@link ServerHandle.close}) and exit 0,
 * or 1 if closing failed or took longer than `forceAfterMs`. A second signal exits 1 at once.
 * Returns a function that removes the handlers.
 */
export function installShutdownHandlers(handle: Pick<ServerHandle, 'app' | 'close'>, options: ShutdownOptions = {}): () => void {
  const signals = options.signals ?? ['SIGTERM', 'SIGINT'];
  const forceAfterMs = options.forceAfterMs ?? DEFAULTS.requestTimeoutMs + 5000;
  const exit = options.exit ?? ((code: number) => process.exit(code));
  const log = handle.app.log;
  let shuttingDown = false;

  const onSignal = (signal: NodeJS.Signals): void => {
    if (shuttingDown) {
      log.warn({ signal }, 'second signal during shutdown; exiting now');
      exit(1);
      return;
    }
    shuttingDown = true;
    log.info({ signal }, 'shutting down: not ready, draining in-flight requests');
    const force = setTimeout(() => {
      log.error({ forceAfterMs }, 'shutdown took too long; exiting');
      exit(1);
    }, forceAfterMs);
    force.unref();
    handle.close().then(
      () => {
        clearTimeout(force);
        log.info('shutdown complete');
        exit(0);
      },
      (error: unknown) => {
        clearTimeout(force);
        log.error({ err: error }, 'shutdown failed');
        exit(1);
      },
    );
  };

  for (const signal of signals) process.on(signal, onSignal);
  return () => {
    for (const signal of signals) process.off(signal, onSignal);
  };
}
