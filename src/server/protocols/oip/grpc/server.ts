import { fileURLToPath } from 'node:url';
import {
  Metadata,
  Server,
  ServerCredentials,
  type ServerUnaryCall,
  type sendUnaryData,
  type UntypedServiceImplementation,
} from '@grpc/grpc-js';
import { loadSync, type MethodDefinition, type ServiceDefinition } from '@grpc/proto-loader';
import type { FastifyBaseLogger } from 'fastify';
import { isResnetServeError, messageOf, ResnetServeError } from '../../../../errors.js';
import { apiKeyCheck, unauthorized } from '../../../access.js';
import { unexpected } from '../../../errors.js';
import { createOipHandler, largestInputSize, type OipOptions } from '../handler.js';
import { tensorLimitsOf } from '../infer-request.js';
import { callLimits } from './call-limits.js';
import {
  grpcInferResponse,
  grpcStatusOf,
  type ModelInferRequestMessage,
  type ModelRequestMessage,
  modelOf,
  PROTO_LOADER_OPTIONS,
  type RepositoryIndexRequestMessage,
  type RepositoryModelRequestMessage,
  wireFromGrpc,
} from './messages.js';
import { scanModelInferRequest, type WireLimits } from './wire-scan.js';

/** The same depth from src/server/protocols/oip/grpc and dist/server/protocols/oip/grpc. */
export const PROTO_PATH = fileURLToPath(new URL('../../../../../proto/open_inference_grpc.proto', import.meta.url));

const SERVICE = 'inference.GRPCInferenceService';

/** The REST routes' options (the same model, limits and metrics), plus where the service listens. */
export interface GrpcOptions extends OipOptions {
  host: string;
  /** 0 picks a free port. */
  port: number;
  /** Where unexpected failures are logged with their stack, as the HTTP error handler logs them. */
  log: Pick<FastifyBaseLogger, 'error'>;
  /** When set, ModelInfer needs `authorization: Bearer <apiKey>` metadata, as the HTTP inference routes need the header. */
  apiKey?: string;
  /** Largest message received and sent (`--grpc-max-receive`, resolved). */
  maxMessageBytes: number;
  /** HTTP/2 streams at once on one connection (`--grpc-max-streams`). */
  maxStreams: number;
  /** ModelInfer calls in progress at once (`--grpc-max-calls`). */
  maxCalls: number;
  /** Longest wait for a call's message after its headers (`--receive-timeout`, as for HTTP). */
  receiveTimeoutMs: number;
  /** The classifier's `--request-timeout`: with `receiveTimeoutMs`, the longest a legitimate call takes. */
  requestTimeoutMs: number;
}

export interface GrpcService {
  /** The port it listens on. */
  readonly port: number;
  /** Stops accepting calls, lets running ones finish for up to `graceMs`, then cancels the rest. */
  close(graceMs?: number): Promise<void>;
}

/**
 * Most inputs, outputs or raw contents in one ModelInferRequest: the model has one input and three outputs, so
 * this is room for a client that names each twice, not a tuning knob; each entry decodes to an object.
 */
const MAX_TENSORS = 16;
/** Most entries in one `parameters` map (the spec defines a handful; each entry decodes to an object). */
const MAX_PARAMETERS = 64;

/**
 * The wire scan's limits for `--max-infer-images`: the largest valid request's tensors, {@link MAX_TENSORS},
 * {@link MAX_PARAMETERS}. The service is bound before its models load, so tensors are bounded for `inputSize`, the
 * largest any served model could take ({@link largestInputSize}).
 */
export function wireLimitsOf(maxInferImages: number, inputSize: number): WireLimits {
  return { ...tensorLimitsOf({ maxImages: maxInferImages, inputSize }), maxTensors: MAX_TENSORS, maxParameters: MAX_PARAMETERS };
}

/** GRPCInferenceService as proto-loader defines it from {@link PROTO_PATH}. */
export function loadService(): ServiceDefinition {
  const service = loadSync(PROTO_PATH, PROTO_LOADER_OPTIONS)[SERVICE];
  if (service === undefined || 'format' in service) throw new ResnetServeError('INTERNAL', `${PROTO_PATH} does not define ${SERVICE}.`);
  return service;
}

/** A ModelInferRequest the wire scan refused: the handler answers with its error, once the caller is authorised. */
export class RefusedRequest {
  constructor(readonly error: ResnetServeError) {}
}

/**
 * The service with ModelInfer's decoder behind {@link scanModelInferRequest}, so sizes are checked on the bytes
 * before protobufjs builds a single array. A refusal, or bytes protobufjs itself cannot read, becomes a
 * {@link RefusedRequest} rather than a throw: grpc-js would answer a throwing decoder with INTERNAL and no
 * registry code.
 */
export function guardModelInfer(service: ServiceDefinition, limits: WireLimits): ServiceDefinition {
  const method = service.ModelInfer as MethodDefinition<object, object>;
  const decode = method.requestDeserialize;
  const requestDeserialize = (bytes: Buffer): object => {
    try {
      scanModelInferRequest(bytes, limits);
    } catch (error) {
      // Anything else the scan throws is a bug, left to grpc-js' INTERNAL (and the fuzzer).
      if (isResnetServeError(error)) return new RefusedRequest(error);
      throw error;
    }
    try {
      return decode(bytes);
    } catch (error) {
      return new RefusedRequest(
        new ResnetServeError('INVALID_ARGUMENT', `The ModelInferRequest cannot be decoded: ${messageOf(error)}.`, { cause: error }),
      );
    }
  };
  return { ...service, ModelInfer: { ...method, requestDeserialize } };
}

/**
 * The Open Inference Protocol's gRPC service (inference_grpc.md) on a port of its own, over the same
 * classifier slot, checks and outputs as the REST routes. Errors carry the registry's message as the status
 * details and its code in the `resnet-serve-code` trailer.
 *
 * @throws when the port cannot be bound.
 */
export async function startGrpcService(options: GrpcOptions): Promise<GrpcService> {
  const { metrics, maxInferImages, maxMessageBytes } = options;
  const oip = createOipHandler(options);
  const limits = wireLimitsOf(maxInferImages, largestInputSize(options.models));
  const service = loadService();
  const server = new Server({
    'grpc.max_receive_message_length': maxMessageBytes,
    'grpc.max_send_message_length': maxMessageBytes,
    'grpc.max_concurrent_streams': options.maxStreams,
    // A connection is asked to go away (GOAWAY) after the longest legitimate call and closed the same time later,
    // with whatever it still holds: the only bound grpc-js offers on a call whose response the client never reads
    // (its stream stays open under HTTP/2 flow control). Clients reconnect on GOAWAY without failing a call.
    'grpc.max_connection_age_ms': options.receiveTimeoutMs + options.requestTimeoutMs,
    'grpc.max_connection_age_grace_ms': options.receiveTimeoutMs + options.requestTimeoutMs,
    interceptors: [
      callLimits({
        path: `/${SERVICE}/ModelInfer`,
        maxCalls: options.maxCalls,
        receiveTimeoutMs: options.receiveTimeoutMs,
        refused: (httpStatus) => metrics.countRequest(`/${SERVICE}/ModelInfer`, 'GRPC', httpStatus),
      }),
    ],
  });

  const unary =
    <Request>(method: string, handle: (request: Request, call: ServerUnaryCall<Request, unknown>) => Promise<unknown> | unknown) =>
    (call: ServerUnaryCall<Request, unknown>, callback: sendUnaryData<unknown>): void => {
      Promise.resolve()
        .then(() => handle(call.request, call))
        .then(
          (response) => {
            metrics.countRequest(`/${SERVICE}/${method}`, 'GRPC', 200);
            callback(null, response);
          },
          (error: unknown) => {
            if (!isResnetServeError(error)) options.log.error({ err: error, method }, 'unexpected gRPC error');
            const mapped = isResnetServeError(error) ? error : unexpected(error);
            metrics.countRequest(`/${SERVICE}/${method}`, 'GRPC', mapped.statusCode);
            const trailer = new Metadata();
            trailer.set('resnet-serve-code', mapped.code);
            callback({ code: grpcStatusOf(mapped.statusCode), details: mapped.message, metadata: trailer });
          },
        );
    };

  const keyMatches = apiKeyCheck(options.apiKey);
  /** With `--api-key`, the calls that infer or change what is served need `authorization: Bearer <key>` metadata. */
  const authorise = (call: ServerUnaryCall<unknown, unknown>): void => {
    if (keyMatches !== undefined && !keyMatches(call.metadata.get('authorization')[0]?.toString())) throw unauthorized();
  };
  const implementation: UntypedServiceImplementation = {
    ServerLive: unary('ServerLive', () => ({ live: true })),
    ServerReady: unary('ServerReady', () => ({ ready: oip.serverReady().ready })),
    ModelReady: unary('ModelReady', (request: ModelRequestMessage) => ({ ready: oip.modelReady(modelOf(request)).ready })),
    ServerMetadata: unary('ServerMetadata', () => oip.serverMetadata()),
    ModelMetadata: unary('ModelMetadata', (request: ModelRequestMessage) => oip.modelMetadata(modelOf(request))),
    ModelInfer: unary('ModelInfer', async (request: ModelInferRequestMessage | RefusedRequest, call) => {
      authorise(call);
      if (request instanceof RefusedRequest) throw request.error;
      const model = { name: request.model_name, version: request.model_version };
      return grpcInferResponse(await oip.infer(model, () => wireFromGrpc(request)));
    }),
    RepositoryIndex: unary('RepositoryIndex', (request: RepositoryIndexRequestMessage) => ({
      models: oip.repositoryIndex(request.ready).map((entry) => ({ ...entry, version: entry.version ?? '' })),
    })),
    // Loading and unloading change what the server serves: they need the key, as inference does.
    RepositoryModelLoad: unary('RepositoryModelLoad', async (request: RepositoryModelRequestMessage, call) => {
      authorise(call);
      await oip.loadModel(request.model_name, Object.keys(request.parameters));
      return {};
    }),
    RepositoryModelUnload: unary('RepositoryModelUnload', async (request: RepositoryModelRequestMessage, call) => {
      authorise(call);
      await oip.unloadModel(request.model_name, Object.keys(request.parameters));
      return {};
    }),
  };
  server.addService(guardModelInfer(service, limits) as never, implementation);
  const port = await new Promise<number>((resolve, reject) => {
    server.bindAsync(`${options.host}:${options.port}`, ServerCredentials.createInsecure(), (error, bound) =>
      error ? reject(error) : resolve(bound),
    );
  });

  let closing: Promise<void> | undefined;
  return {
    port,
    close(graceMs = 10_000): Promise<void> {
      closing ??= new Promise<void>((resolve) => {
        const force = setTimeout(() => {
          server.forceShutdown();
          resolve();
        }, graceMs);
        force.unref();
        server.tryShutdown(() => {
          clearTimeout(force);
          resolve();
        });
      });
      return closing;
    },
  };
}
