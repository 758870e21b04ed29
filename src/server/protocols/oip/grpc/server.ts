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
import { IMAGENET_LABELS } from '../../../../labels/label-set.js';
import { apiKeyCheck, unauthorized } from '../../../access.js';
import { unexpected } from '../../../errors.js';
import { checkModel, MODEL_VERSION } from '../../served-model.js';
import { planInference, wantsCam } from '../infer-request.js';
import { inferOutputs } from '../infer-response.js';
import { EXTENSIONS, modelMetadata } from '../model-metadata.js';
import type { OipRestOptions } from '../rest/routes.js';
import { inferAll } from '../run-inference.js';
import { grpcInferResponse, grpcStatusOf, type ModelInferRequestMessage, PROTO_LOADER_OPTIONS, wireFromGrpc } from './messages.js';

/** The same depth from src/server/protocols/oip/grpc and dist/server/protocols/oip/grpc. */
export const PROTO_PATH = fileURLToPath(new URL('../../../../../proto/open_inference_grpc.proto', import.meta.url));

const SERVICE = 'inference.GRPCInferenceService';

/** The REST routes' options (the same model, limits and metrics), plus where the service listens. */
export interface GrpcOptions extends OipRestOptions {
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
  const { slot, metrics, modelName, serverVersion, maxInferImages, maxUploadBytes } = options;
  const definition = loadSync(PROTO_PATH, PROTO_LOADER_OPTIONS);
  const service = definition[SERVICE];
  if (service === undefined || 'format' in service) throw new ResnetServeError('INTERNAL', `${PROTO_PATH} does not define ${SERVICE}.`);
  const limits = { maxImages: maxInferImages, maxImageBytes: maxUploadBytes, classes: IMAGENET_LABELS.en.length };
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
  const ready = (): boolean => slot.state === 'ready';
  const implementation: UntypedServiceImplementation = {
    ServerLive: unary('ServerLive', () => ({ live: true })),
    ServerReady: unary('ServerReady', () => ({ ready: ready() })),
    ModelReady: unary('ModelReady', (request: { name: string; version: string }) => {
      checkModel(modelName, request.name, request.version);
      return { ready: ready() };
    }),
    ServerMetadata: unary('ServerMetadata', () => ({ name: 'resnet-serve', version: serverVersion, extensions: [...EXTENSIONS] })),
    ModelMetadata: unary('ModelMetadata', (request: { name: string; version: string }) => {
      checkModel(modelName, request.name, request.version);
      return modelMetadata(modelName);
    }),
    ModelInfer: unary('ModelInfer', async (request: ModelInferRequestMessage, call) => {
      if (keyMatches !== undefined && !keyMatches(call.metadata.get('authorization')[0]?.toString())) throw unauthorized();
      checkModel(modelName, request.model_name, request.model_version);
      const classifier = slot.current();
      const wire = wireFromGrpc(request);
      const plan = planInference(wire.inputs, wire.outputs, true, limits);
      const inferred = await inferAll(classifier, plan.input, wire.inputs[0]?.name ?? '', wantsCam(plan.outputs));
      for (const timings of inferred.timings) metrics.observeTimings(timings);
      const outputs = inferOutputs(plan.outputs, inferred.logits, inferred.count, inferred.classes, IMAGENET_LABELS, inferred.cams);
      return grpcInferResponse({
        model_name: modelName,
        model_version: MODEL_VERSION,
        id: request.id === '' ? undefined : request.id,
        outputs,
      });
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
