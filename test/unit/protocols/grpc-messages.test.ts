/**
 * ModelInferRequest/Response as @grpc/proto-loader decodes them from the .proto written from
 * inference_grpc.md: encoded with protobufjs from the same file, so field numbers and types are checked too.
 */
import { status } from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import { describe, expect, test } from 'vitest';
import { INPUT_ELEMENTS } from '../../../src/image/recipe.js';
import {
  grpcInferResponse,
  grpcStatusOf,
  type ModelInferRequestMessage,
  PROTO_LOADER_OPTIONS,
  parametersFromGrpc,
  wireFromGrpc,
} from '../../../src/server/protocols/oip/grpc/messages.js';
import { PROTO_PATH } from '../../../src/server/protocols/oip/grpc/server.js';
import { planInference } from '../../../src/server/protocols/oip/infer-request.js';
import { serializeByteTensor } from '../../helpers/tritonclient.js';

const definition = loadSync(PROTO_PATH, PROTO_LOADER_OPTIONS);

interface MessageType {
  type: unknown;
  format: string;
}

/** Encodes `value` as the named message, then decodes it as the server does (a round trip through the wire). */
function roundTrip<T>(name: string, value: Record<string, unknown>): T {
  const service = definition['inference.GRPCInferenceService'] as unknown as Record<
    string,
    { requestSerialize: (v: unknown) => Buffer; requestDeserialize: (b: Buffer) => T; requestType: MessageType }
  >;
  const method = Object.values(service).find((m) => (m.requestType.type as { name: string }).name === name);
  if (method === undefined) throw new Error(`no method takes ${name}`);
  return method.requestDeserialize(method.requestSerialize(value));
}

const JPEG = Buffer.from([0xff, 0xd8, 0xff, 0xe0, 1, 2, 3]);
const LIMITS = { maxImages: 8, maxImageBytes: 1024, classes: 1000, inputSize: 224 };

describe('the gRPC messages', () => {
  test('the classification extension’s gRPC request reads like its REST form', () => {
    // extension_classification.md, "GRPC": outputs [{ name: "output0", parameters [{ key: "classification", value: { int64_param: 2 } }] }]
    const request = roundTrip<ModelInferRequestMessage>('ModelInferRequest', {
      model_name: 'mymodel',
      inputs: [{ name: 'input0', shape: [2, 2], datatype: 'UINT32', contents: { uint_contents: [1, 2, 3, 4] } }],
      outputs: [{ name: 'output0', parameters: { classification: { int64_param: 2 } } }],
    });
    expect(request.model_version).toBe('');
    expect(request.inputs[0]?.shape).toEqual([2, 2]);
    expect(parametersFromGrpc(request.outputs[0]?.parameters ?? {})).toEqual({ classification: 2 });
  });

  test('every InferParameter choice becomes a plain value', () => {
    const request = roundTrip<ModelInferRequestMessage>('ModelInferRequest', {
      parameters: {
        a: { bool_param: true },
        b: { int64_param: 7 },
        c: { string_param: 'x' },
        d: { double_param: 0.5 },
        e: { uint64_param: 9 },
      },
    });
    expect(parametersFromGrpc(request.parameters)).toEqual({ a: true, b: 7, c: 'x', d: 0.5, e: 9 });
  });

  test('images in raw_input_contents, as tritonclient.grpc sends BYTES', () => {
    const request = roundTrip<ModelInferRequestMessage>('ModelInferRequest', {
      model_name: 'resnet18',
      inputs: [{ name: 'image', shape: [2], datatype: 'BYTES' }],
      raw_input_contents: [serializeByteTensor([JPEG, JPEG])],
    });
    const wire = wireFromGrpc(request);
    const plan = planInference(wire.inputs, wire.outputs, true, LIMITS);
    expect(plan.input.kind === 'images' && plan.input.images.length).toBe(2);
    expect(plan.outputs.map((o) => o.name)).toEqual(['logits', 'probabilities']);
  });

  test('images in bytes_contents, and a tensor in fp32_contents', () => {
    const images = wireFromGrpc(
      roundTrip<ModelInferRequestMessage>('ModelInferRequest', {
        inputs: [{ name: 'image', shape: [1, 1], datatype: 'BYTES', contents: { bytes_contents: [JPEG] } }],
      }),
    );
    expect(images.inputs[0]?.data).toEqual({ kind: 'elements', values: [JPEG] });
    const values = Array.from({ length: INPUT_ELEMENTS }, (_, i) => (i % 5) / 4);
    const tensors = wireFromGrpc(
      roundTrip<ModelInferRequestMessage>('ModelInferRequest', {
        inputs: [{ name: 'input', shape: [1, 3, 224, 224], datatype: 'FP32', contents: { fp32_contents: values } }],
      }),
    );
    const plan = planInference(tensors.inputs, tensors.outputs, true, LIMITS);
    expect(plan.input.kind === 'tensors' && Array.from(plan.input.data.subarray(0, 6))).toEqual(values.slice(0, 6));
  });

  test('answers put every output in raw_output_contents', () => {
    const response = grpcInferResponse({
      model_name: 'resnet18',
      model_version: '1',
      id: 'a',
      outputs: [
        { name: 'logits', shape: [1, 2], binary: false, datatype: 'FP32', values: new Float32Array([1, 2]) },
        { name: 'probabilities', shape: [1, 1], binary: false, datatype: 'BYTES', values: ['0.731059:1'] },
      ],
    });
    const raw = response.raw_output_contents as Buffer[];
    expect(new Float32Array(new Uint8Array(raw[0] ?? []).buffer)).toEqual(new Float32Array([1, 2]));
    expect(raw[1]?.readUInt32LE(0)).toBe(10);
    expect(raw[1]?.subarray(4).toString()).toBe('0.731059:1');
  });

  test.each([
    [400, status.INVALID_ARGUMENT],
    [415, status.INVALID_ARGUMENT],
    [422, status.INVALID_ARGUMENT],
    [404, status.NOT_FOUND],
    [413, status.RESOURCE_EXHAUSTED],
    [503, status.UNAVAILABLE],
    [500, status.INTERNAL],
  ])('HTTP %i maps to gRPC status %i', (http, grpc) => {
    expect(grpcStatusOf(http)).toBe(grpc);
  });
});
