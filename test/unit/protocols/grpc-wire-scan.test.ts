/**
 * The wire scan of ModelInferRequest bytes: requests protobufjs encodes from the specs' examples pass, and
 * what would make the decoder build huge arrays, or read the bytes otherwise than the scan did, is refused
 * with INVALID_ARGUMENT before decoding.
 */
import protobuf from 'protobufjs';
import { describe, expect, test } from 'vitest';
import { INPUT_ELEMENTS } from '../../../src/image/recipe.js';
import { PROTO_PATH } from '../../../src/server/protocols/oip/grpc/server.js';
import { scanModelInferRequest, type WireLimits } from '../../../src/server/protocols/oip/grpc/wire-scan.js';
import { thrownError } from '../../helpers/errors.js';
import {
  CONTENTS,
  delimited,
  INPUT,
  inputTensor,
  packedFloats,
  packedVarints,
  REQUEST,
  varint,
  varintField,
} from '../../helpers/protobuf-wire.js';

const LIMITS: WireLimits = { maxElements: 8 * INPUT_ELEMENTS, maxBytesElements: 8, maxTensors: 16, maxParameters: 64 };
const ModelInferRequest = new protobuf.Root().loadSync(PROTO_PATH, { keepCase: true }).lookupType('inference.ModelInferRequest');
const encode = (message: Record<string, unknown>): Buffer =>
  Buffer.from(ModelInferRequest.encode(ModelInferRequest.fromObject(message)).finish());
const request = (...inputs: Buffer[]): Buffer =>
  Buffer.concat([delimited(REQUEST.modelName, 'resnet18'), ...inputs.map((input) => delimited(REQUEST.inputs, input))]);
const refusal = (bytes: Buffer): string => thrownError(() => scanModelInferRequest(bytes, LIMITS)).code;

describe('scanModelInferRequest accepts', () => {
  test.each([
    [
      "inference_rest.md's example tensors as typed contents",
      {
        id: '42',
        inputs: [
          { name: 'input0', shape: [2, 2], datatype: 'UINT32', contents: { uint_contents: [1, 2, 3, 4] } },
          { name: 'input1', shape: [3], datatype: 'BOOL', contents: { bool_contents: [true, false, true] } },
        ],
        outputs: [{ name: 'output0' }],
      },
    ],
    [
      'an image as tritonclient sends it (raw contents, BYTES [1])',
      {
        model_name: 'resnet18',
        inputs: [{ name: 'image', shape: [1], datatype: 'BYTES', parameters: { binary_data_size: { int64_param: 12 } } }],
        raw_input_contents: [Buffer.from([8, 0, 0, 0, 0xff, 0xd8, 0xff, 0xe0, 1, 2, 3, 4])],
      },
    ],
    [
      'a [1, 3, 224, 224] FP32 tensor in fp32_contents',
      {
        inputs: [
          { name: 'input', shape: [1, 3, 224, 224], datatype: 'FP32', contents: { fp32_contents: new Array(INPUT_ELEMENTS).fill(0.5) } },
        ],
      },
    ],
    [
      'two FP32 tensors in raw contents',
      {
        inputs: [{ name: 'input', shape: [2, 3, 224, 224], datatype: 'FP32' }],
        raw_input_contents: [Buffer.alloc(2 * INPUT_ELEMENTS * 4)],
      },
    ],
    ['no inputs at all (the model refuses it later)', { model_name: 'resnet18' }],
  ])('%s', (_, message) => {
    expect(() => scanModelInferRequest(encode(message), LIMITS)).not.toThrow();
  });

  test('an unpacked shape and contents, which protobufjs also reads', () => {
    const unpacked = Buffer.concat([
      delimited(INPUT.name, 'x'),
      delimited(INPUT.datatype, 'INT64'),
      varintField(INPUT.shape, 2),
      delimited(INPUT.contents, Buffer.concat([varintField(3, 7), varintField(3, -7n)])),
    ]);
    expect(() => scanModelInferRequest(request(unpacked), LIMITS)).not.toThrow();
    expect(ModelInferRequest.toObject(ModelInferRequest.decode(request(unpacked)), { longs: Number })).toMatchObject({
      inputs: [{ shape: [2], contents: { int64_contents: [7, -7] } }],
    });
  });
});

describe('scanModelInferRequest refuses with INVALID_ARGUMENT', () => {
  test('a shape of 10 M dims, reading no further than the ninth', () => {
    const dims = Buffer.alloc(10_000_000, 1);
    expect(refusal(request(Buffer.concat([delimited(INPUT.name, 'input'), delimited(INPUT.shape, dims)])))).toBe('INVALID_ARGUMENT');
  });

  test.each([
    ['nine dims', request(inputTensor('input', 'FP32', [1, 1, 1, 1, 1, 1, 1, 1, 1]))],
    ['a dim of -1 (a ten-byte varint)', request(inputTensor('input', 'FP32', [-1, 3, 224, 224]))],
    ['a shape of more elements than the largest valid request', request(inputTensor('input', 'FP32', [9, 3, 224, 224]))],
    ['dims whose product leaves the safe integers', request(inputTensor('input', 'FP32', [2 ** 40, 2 ** 40, 0]))],
    ['nine BYTES elements (8 images at most)', request(inputTensor('image', 'BYTES', [9]))],
    [
      '20 M fp32_contents for a [1, 3, 224, 224] shape',
      request(
        inputTensor('input', 'FP32', [1, 3, 224, 224], delimited(INPUT.contents, delimited(CONTENTS.fp32, Buffer.alloc(80_000_000)))),
      ),
    ],
    [
      'one fp32 value too few',
      request(
        inputTensor(
          'input',
          'FP32',
          [1, 3, 224, 224],
          delimited(INPUT.contents, packedFloats(CONTENTS.fp32, new Float32Array(INPUT_ELEMENTS - 1))),
        ),
      ),
    ],
    [
      '2 M empty bytes_contents for a [1] shape',
      request(inputTensor('image', 'BYTES', [1], delimited(INPUT.contents, Buffer.alloc(4_000_000).fill(delimited(CONTENTS.bytes, ''))))),
    ],
    ['contents of another datatype', request(inputTensor('input', 'FP32', [2], delimited(INPUT.contents, packedVarints(2, [1, 2]))))],
    [
      'raw contents of another size than shape × 4 bytes',
      Buffer.concat([request(inputTensor('input', 'FP32', [1, 3, 224, 224])), delimited(REQUEST.rawInputContents, Buffer.alloc(16))]),
    ],
    [
      'more raw contents than inputs',
      Buffer.concat([
        request(inputTensor('image', 'BYTES', [1])),
        delimited(REQUEST.rawInputContents, ''),
        delimited(REQUEST.rawInputContents, ''),
      ]),
    ],
    ['17 inputs', request(...Array.from({ length: 17 }, () => inputTensor('image', 'BYTES', [1])))],
    ['17 outputs', Buffer.concat(Array.from({ length: 17 }, () => delimited(REQUEST.outputs, delimited(1, 'logits'))))],
    ['65 parameters', Buffer.concat(Array.from({ length: 65 }, () => delimited(REQUEST.parameters, '')))],
    ['a message that ends inside a field', request(inputTensor('input', 'FP32', [1])).subarray(0, -1)],
    [
      'an input sent as a varint, which protobufjs would read as a length',
      Buffer.concat([varintField(REQUEST.inputs, 5), Buffer.alloc(5)]),
    ],
    ['a group (wire type 3)', Buffer.concat([varint((9 << 3) | 3), varint((9 << 3) | 4)])],
    ['field number 0', Buffer.from([0x00, 0x00])],
    ['a varint of eleven bytes', Buffer.concat([Buffer.from([0x08]), Buffer.alloc(10, 0xff), Buffer.from([0x01])])],
  ])('%s', (_, bytes) => {
    expect(refusal(bytes)).toBe('INVALID_ARGUMENT');
  });
});
