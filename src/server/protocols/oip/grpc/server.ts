import { fileURLToPath } from 'node:url';
import {
  Metadata,
  Server,
  ServerCredentials,
  type ServerUnaryCall,
  type sendUnaryData,
  type UntypedServiceImplementation,
} from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import type { FastifyBaseLogger } from 'fastify';
import { isResnetServeError, ResnetServeError } from '../../../../errors.js';
import { apiKeyCheck, unauthorized } from '../../../access.js';
import { unexpected } from '../../../errors.js';
import { createOipHandler, type OipOptions } from '../handler.js';
import {
  grpcInferResponse,
  grpcStatusOf,
  type ModelInferRequestMessage,
  type ModelRequestMessage,
  modelOf,
  PROTO_LOADER_OPTIONS,
  wireFromGrpc,
} from './messages.js';

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
}

export interface GrpcService {
  /** The port it listens on. */
  readonly port: number;
  /** Stops accepting calls, lets running ones finish for up to `graceMs`, then cancels the rest. */
  close(graceMs?: number): Promise<void>;
}

/** Room for the protobuf framing around the images of one ModelInferRequest. */
const MESSAGE_OVERHEAD_BYTES = 64 * 1024;

/**
 * The Open Inference Protocol's gRPC service (inference_grpc.md) on a port of its own, over the same
 * classifier slot, checks and outputs as the REST routes. Errors carry the registry's message as the status
 * details and its code in the `resnet-serve-code` trailer.
 *
 * @throws when the port cannot be bound.
 */
export async function startGrpcService(options: GrpcOptions): Promise<GrpcService> {
  const { metrics, maxInferImages, maxUploadBytes } = options;
  const oip = createOipHandler(options);
  const definition = loadSync(PROTO_PATH, PROTO_LOADER_OPTIONS);
  const service = definition[SERVICE];
  if (service === undefined || 'format' in service) throw new ResnetServeError('INTERNAL', `${PROTO_PATH} does not define ${SERVICE}.`);
  const maxMessageBytes = maxInferImages * (maxUploadBytes + 4) + MESSAGE_OVERHEAD_BYTES;
  const server = new Server({ 'grpc.max_receive_message_length': maxMessageBytes, 'grpc.max_send_message_length': maxMessageBytes });

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
  const implementation: UntypedServiceImplementation = {
    ServerLive: unary('ServerLive', () => ({ live: true })),
    ServerReady: unary('ServerReady', () => ({ ready: oip.serverReady().ready })),
    ModelReady: unary('ModelReady', (request: ModelRequestMessage) => ({ ready: oip.modelReady(modelOf(request)).ready })),
    ServerMetadata: unary('ServerMetadata', () => oip.serverMetadata()),
    ModelMetadata: unary('ModelMetadata', (request: ModelRequestMessage) => oip.modelMetadata(modelOf(request))),
    ModelInfer: unary('ModelInfer', async (request: ModelInferRequestMessage, call) => {
      if (keyMatches !== undefined && !keyMatches(call.metadata.get('authorization')[0]?.toString())) throw unauthorized();
      const model = { name: request.model_name, version: request.model_version };
      return grpcInferResponse(await oip.infer(model, () => wireFromGrpc(request)));
    }),
  };
  server.addService(service as never, implementation);
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
