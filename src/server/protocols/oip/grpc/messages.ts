import { status } from '@grpc/grpc-js';
import {
  type InferAnswer,
  type InferRequest,
  type ModelRef,
  type Parameters,
  type ParameterValue,
  tensorBytes,
  type WireInput,
} from '../handler.js';

/**
 * Messages as @grpc/proto-loader hands them over with the options in {@link PROTO_LOADER_OPTIONS}:
 * field names as in the .proto, int64 as JS numbers, absent fields at their defaults, and the name of the
 * set oneof member in `parameter_choice`.
 */
export interface InferParameterMessage {
  parameter_choice?: 'bool_param' | 'int64_param' | 'string_param' | 'double_param' | 'uint64_param';
  bool_param?: boolean;
  int64_param?: number;
  string_param?: string;
  double_param?: number;
  uint64_param?: number;
}

export interface TensorContentsMessage {
  fp32_contents: number[];
  bytes_contents: Buffer[];
  [other: string]: unknown[];
}

export interface ModelInferRequestMessage {
  model_name: string;
  model_version: string;
  id: string;
  parameters: Record<string, InferParameterMessage>;
  inputs: {
    name: string;
    datatype: string;
    shape: number[];
    parameters: Record<string, InferParameterMessage>;
    contents: TensorContentsMessage | null;
  }[];
  outputs: { name: string; parameters: Record<string, InferParameterMessage> }[];
  raw_input_contents: Buffer[];
}

/** ModelReadyRequest and ModelMetadataRequest. */
export interface ModelRequestMessage {
  name: string;
  version: string;
}

/** RepositoryIndexRequest (Triton's model repository extension). */
export interface RepositoryIndexRequestMessage {
  repository_name: string;
  ready: boolean;
}

/** RepositoryModelLoadRequest and RepositoryModelUnloadRequest; only the parameters' names are read. */
export interface RepositoryModelRequestMessage {
  repository_name: string;
  model_name: string;
  parameters: Record<string, unknown>;
}

export function modelOf(request: ModelRequestMessage): ModelRef {
  return { name: request.name, version: request.version };
}

export const PROTO_LOADER_OPTIONS = Object.freeze({ keepCase: true, longs: Number, enums: String, defaults: true, oneofs: true });

/** InferParameter's set member as a plain value, so REST and gRPC parameters read alike. */
export function parametersFromGrpc(parameters: Record<string, InferParameterMessage>): Parameters {
  const out: Record<string, ParameterValue> = {};
  for (const [key, parameter] of Object.entries(parameters)) {
    const choice = parameter.parameter_choice;
    const value = choice === undefined ? undefined : parameter[choice];
    if (value !== undefined) out[key] = value;
  }
  return out;
}

/**
 * A ModelInferRequest as the handler reads requests. `raw_input_contents`, when present, holds every input's
 * data in input order; otherwise each input's typed `contents` does. Outputs are always raw contents, so every
 * output is "binary".
 */
export function wireFromGrpc(request: ModelInferRequestMessage): InferRequest {
  const raw = request.raw_input_contents.length > 0;
  const inputs = request.inputs.map((input, i): WireInput => {
    const base = { name: input.name, datatype: input.datatype, shape: input.shape, parameters: parametersFromGrpc(input.parameters) };
    if (raw) return { ...base, data: { kind: 'raw', bytes: request.raw_input_contents[i] ?? new Uint8Array(0) } };
    const contents = input.contents;
    if (contents !== null && contents.bytes_contents.length > 0)
      return { ...base, data: { kind: 'elements', values: contents.bytes_contents } };
    return { ...base, data: { kind: 'floats', values: contents?.fp32_contents ?? [] } };
  });
  const outputs =
    request.outputs.length === 0 ? undefined : request.outputs.map((o) => ({ name: o.name, parameters: parametersFromGrpc(o.parameters) }));
  return { id: request.id === '' ? undefined : request.id, inputs, outputs, binaryOutput: true };
}

/** A ModelInferResponse with every output in `raw_output_contents`, as Triton's server answers. */
export function grpcInferResponse(answer: InferAnswer): Record<string, unknown> {
  return {
    model_name: answer.model_name,
    model_version: answer.model_version,
    id: answer.id ?? '',
    outputs: answer.outputs.map((o) => ({ name: o.name, datatype: o.datatype, shape: o.shape })),
    raw_output_contents: answer.outputs.map(tensorBytes),
  };
}

/**
 * The gRPC status for a registry error, from its HTTP status, so a new code needs no entry here: 400, 415 and
 * 422 are INVALID_ARGUMENT; 404 NOT_FOUND; 413 RESOURCE_EXHAUSTED (as gRPC reports a message over its own size
 * limit); 503 UNAVAILABLE, the status gRPC clients treat as retryable; anything else INTERNAL. The registry
 * code itself travels in the `resnet-serve-code` trailer.
 */
export function grpcStatusOf(httpStatus: number): status {
  if (httpStatus === 401) return status.UNAUTHENTICATED;
  if (httpStatus === 403) return status.PERMISSION_DENIED;
  if (httpStatus === 404) return status.NOT_FOUND;
  if (httpStatus === 429) return status.RESOURCE_EXHAUSTED;
  if (httpStatus === 413) return status.RESOURCE_EXHAUSTED;
  if (httpStatus === 503) return status.UNAVAILABLE;
  if (httpStatus === 501) return status.UNIMPLEMENTED;
  if (httpStatus >= 400 && httpStatus < 500) return status.INVALID_ARGUMENT;
  return status.INTERNAL;
}
