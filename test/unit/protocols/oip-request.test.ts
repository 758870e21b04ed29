/**
 * Reading Open Inference Protocol requests: the specs' own example bodies (kserve/open-inference-protocol
 * inference_rest.md, Triton's extension_binary_data.md) and bodies built as tritonclient builds them.
 */
import { describe, expect, test } from 'vitest';
import { INPUT_ELEMENTS } from '../../../src/image/recipe.js';
import { readBytesElements, writeBytesElements } from '../../../src/server/protocols/oip/binary-data.js';
import { type InferLimits, planInference, type WireInput } from '../../../src/server/protocols/oip/infer-request.js';
import { readRestRequest, splitInferBody } from '../../../src/server/protocols/oip/rest/request.js';
import { thrownError } from '../../helpers/errors.js';
import { SPEC_JSON_REQUEST, specBinaryRequest } from '../../helpers/oip-spec-examples.js';
import { serializeByteTensor, tritonInferRequest } from '../../helpers/tritonclient.js';

const LIMITS: InferLimits = { maxImages: 8, maxImageBytes: 1024, classes: 1000, inputSize: 224 };
const JPEG = Buffer.from([0xff, 0xd8, 0xff, 0xe0, 1, 2, 3, 4]);
const PNG = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 9]);

describe('the specs’ example requests', () => {
  test('inference_rest.md’s JSON request: id, two inputs with data, one output', () => {
    const { header, binary } = splitInferBody(Buffer.from(SPEC_JSON_REQUEST), undefined);
    const request = readRestRequest(header, binary);
    expect(request.id).toBe('42');
    expect(request.inputs.map((i) => [i.name, i.datatype, i.shape])).toEqual([
      ['input0', 'UINT32', [2, 2]],
      ['input1', 'BOOL', [3]],
    ]);
    expect(request.inputs[0]?.data).toEqual({ kind: 'json', value: [1, 2, 3, 4] });
    expect(request.outputs).toEqual([{ name: 'output0', parameters: {} }]);
    // This model has one input: the spec's two-input example is refused by name and count, not misread.
    expect(thrownError(() => planInference(request.inputs, request.outputs, false, LIMITS)).code).toBe('INVALID_ARGUMENT');
  });

  test('extension_binary_data.md’s request: each input gets its binary_data_size bytes, in order', () => {
    const { body, headerLength } = specBinaryRequest();
    const { header, binary } = splitInferBody(body, headerLength);
    expect(binary.length).toBe(19);
    const request = readRestRequest(header, binary);
    const [input0, input1] = request.inputs;
    expect(input0?.data.kind).toBe('raw');
    expect(input0?.data.kind === 'raw' && [...new Uint32Array(new Uint8Array(input0.data.bytes).buffer)]).toEqual([1, 2, 3, 4]);
    expect(input1?.data.kind === 'raw' && [...input1.data.bytes]).toEqual([1, 0, 1]);
    expect(request.outputs?.[0]?.parameters).toEqual({ binary_data: true });
  });

  test('binary data that no input claims is refused', () => {
    const { body, headerLength } = specBinaryRequest();
    const { header, binary } = splitInferBody(Buffer.concat([body, Buffer.from([0])]), headerLength);
    expect(thrownError(() => readRestRequest(header, binary)).code).toBe('INVALID_ARGUMENT');
  });

  test('an input claiming more binary data than follows is refused', () => {
    const { body, headerLength } = specBinaryRequest();
    const { header, binary } = splitInferBody(body.subarray(0, body.length - 1), headerLength);
    expect(thrownError(() => readRestRequest(header, binary)).message).toMatch(/input1.*3 bytes/);
  });

  test.each(['abc', '-1', '1e3', '99999999'])('an Inference-Header-Content-Length of %s is refused', (value) => {
    expect(thrownError(() => splitInferBody(Buffer.from('{}'), value)).code).toBe('INVALID_ARGUMENT');
  });

  test('a body that is not JSON is refused', () => {
    expect(thrownError(() => splitInferBody(Buffer.from('{"inputs": ['), undefined)).code).toBe('INVALID_ARGUMENT');
  });
});

describe('BYTES elements in binary form', () => {
  test('round-trip through serialize_byte_tensor’s layout, empty elements included', () => {
    const elements = [JPEG, Buffer.alloc(0), PNG];
    const wire = serializeByteTensor(elements);
    expect(writeBytesElements(elements).equals(wire)).toBe(true);
    expect(readBytesElements(wire, 'image').map((e) => Buffer.from(e))).toEqual(elements);
  });

  test('a length running past the end names the element', () => {
    const wire = serializeByteTensor([JPEG, PNG]);
    const error = thrownError(() => readBytesElements(wire.subarray(0, wire.length - 1), 'image'));
    expect(error.code).toBe('INVALID_ARGUMENT');
    expect(error.details).toMatchObject({ index: 1 });
  });

  test('a truncated length prefix is refused', () => {
    expect(thrownError(() => readBytesElements(Buffer.from([5, 0]), 'image')).code).toBe('INVALID_ARGUMENT');
  });
});

/** What readRestRequest makes of a tritonclient body. */
function fromTriton(...args: Parameters<typeof tritonInferRequest>): ReturnType<typeof readRestRequest> {
  const { body, headers } = tritonInferRequest(...args);
  const { header, binary } = splitInferBody(body, headers['Inference-Header-Content-Length']);
  return readRestRequest(header, binary);
}

describe('planInference on tritonclient’s requests', () => {
  test('BYTES [2] in binary, no outputs named: both images, every output, binary (binary_data_output)', () => {
    const request = fromTriton([{ name: 'image', shape: [2], datatype: 'BYTES', data: [JPEG, PNG] }]);
    expect(request.binaryOutput).toBe(true);
    const plan = planInference(request.inputs, request.outputs, request.binaryOutput, LIMITS);
    expect(plan.input.kind === 'images' && plan.input.images.map((i) => Buffer.from(i))).toEqual([JPEG, PNG]);
    expect(plan.outputs).toEqual([
      { name: 'logits', binary: true, classification: undefined },
      { name: 'probabilities', binary: true, classification: undefined },
    ]);
  });

  test('BYTES [N, 1] with a classification output, as image_client sends it', () => {
    const request = fromTriton(
      [{ name: 'image', shape: [3, 1], datatype: 'BYTES', data: [JPEG, PNG, JPEG] }],
      [{ name: 'probabilities', classCount: 5 }],
    );
    const plan = planInference(request.inputs, request.outputs, request.binaryOutput, LIMITS);
    expect(plan.input.kind === 'images' && plan.input.images.length).toBe(3);
    expect(plan.outputs).toEqual([{ name: 'probabilities', binary: true, classification: 5 }]);
  });

  test('base64 images in JSON (KServe’s convention), with binary_data false', () => {
    const base64 = [JPEG, PNG].map((b) => Buffer.from(b.toString('base64')));
    const request = fromTriton(
      [{ name: 'image', shape: [2], datatype: 'BYTES', data: base64, binary: false }],
      [{ name: 'logits', binary: false }],
      'req-7',
    );
    expect(request.id).toBe('req-7');
    const plan = planInference(request.inputs, request.outputs, request.binaryOutput, LIMITS);
    expect(plan.input.kind === 'images' && plan.input.images.map((i) => Buffer.from(i))).toEqual([JPEG, PNG]);
    expect(plan.outputs).toEqual([{ name: 'logits', binary: false, classification: undefined }]);
  });

  test('FP32 [2, 3, 224, 224] in binary: the values, in order', () => {
    const data = Float32Array.from({ length: 2 * INPUT_ELEMENTS }, (_, i) => (i % 97) / 97 - 0.5);
    const request = fromTriton([{ name: 'input', shape: [2, 3, 224, 224], datatype: 'FP32', data }], [{ name: 'logits' }]);
    const plan = planInference(request.inputs, request.outputs, request.binaryOutput, LIMITS);
    expect(plan.input.kind).toBe('tensors');
    expect(plan.input.kind === 'tensors' && plan.input.count).toBe(2);
    expect(plan.input.kind === 'tensors' && Buffer.from(plan.input.data.buffer).equals(Buffer.from(data.buffer))).toBe(true);
  });

  test('FP32 in JSON, flat or nested as the spec allows', () => {
    const flat = Array.from({ length: INPUT_ELEMENTS }, (_, i) => (i % 7) - 3);
    const nested = [
      [0, 1, 2].map((c) => Array.from({ length: 224 }, (_, y) => flat.slice(c * 224 * 224 + y * 224, c * 224 * 224 + (y + 1) * 224))),
    ];
    for (const value of [flat, nested]) {
      const wire: WireInput = { name: 'input', datatype: 'FP32', shape: [1, 3, 224, 224], parameters: {}, data: { kind: 'json', value } };
      const plan = planInference([wire], undefined, false, LIMITS);
      expect(plan.input.kind === 'tensors' && Array.from(plan.input.data)).toEqual(flat);
    }
  });
});

describe('planInference refuses', () => {
  const images = (data: readonly Uint8Array[], shape = [data.length]): WireInput => ({
    name: 'image',
    datatype: 'BYTES',
    shape,
    parameters: {},
    data: { kind: 'elements', values: data },
  });
  const json = (value: unknown, shape = [1]): WireInput => ({
    name: 'image',
    datatype: 'BYTES',
    shape,
    parameters: {},
    data: { kind: 'json', value },
  });

  test.each([
    ['bad base64', json(['not base64!'])],
    ['base64 without its padding', json([JPEG.toString('base64').replace(/=+$/, '')])],
    ['a number where a base64 string belongs', json([42])],
    ['the wrong datatype for image', { ...images([JPEG]), datatype: 'FP32' }],
    [
      'the wrong datatype for input',
      { name: 'input', datatype: 'UINT8', shape: [1, 3, 224, 224], parameters: {}, data: { kind: 'raw', bytes: new Uint8Array(0) } },
    ],
    ['a shape of [1, 2]', images([JPEG, PNG], [1, 2])],
    [
      'a shape of [1, 3, 256, 256]',
      { name: 'input', datatype: 'FP32', shape: [1, 3, 256, 256], parameters: {}, data: { kind: 'json', value: [] } },
    ],
    ['a shape that disagrees with the elements', images([JPEG, PNG], [3])],
    [
      'FP32 data of the wrong length',
      { name: 'input', datatype: 'FP32', shape: [1, 3, 224, 224], parameters: {}, data: { kind: 'raw', bytes: new Uint8Array(8) } },
    ],
    [
      'a non-finite FP32 value',
      {
        name: 'input',
        datatype: 'FP32',
        shape: [1, 3, 224, 224],
        parameters: {},
        data: { kind: 'floats', values: Float32Array.from({ length: INPUT_ELEMENTS }, (_, i) => (i === 5 ? Number.NaN : 0)) },
      },
    ],
    ['an unknown input', { ...images([JPEG]), name: 'INPUT__0' }],
    ['N = 0', images([], [0])],
  ])('%s with INVALID_ARGUMENT', (_, wire) => {
    expect(thrownError(() => planInference([wire as WireInput], undefined, false, LIMITS)).code).toBe('INVALID_ARGUMENT');
  });

  test('N over the limit, saying the limit', () => {
    const error = thrownError(() => planInference([images(Array.from({ length: 9 }, () => JPEG))], undefined, false, LIMITS));
    expect(error.code).toBe('INVALID_ARGUMENT');
    expect(error.details).toMatchObject({ limit: 8, received: 9 });
  });

  test('an element over the byte limit with FILE_TOO_LARGE and its index', () => {
    const error = thrownError(() => planInference([images([JPEG, PNG, Buffer.alloc(1025, 0xff)])], undefined, false, LIMITS));
    expect(error.code).toBe('FILE_TOO_LARGE');
    expect(error.message).toContain('element 2');
    expect(error.details).toMatchObject({ index: 2, limitBytes: 1024, receivedBytes: 1025 });
  });

  test('an empty element with FILE_EMPTY and its index', () => {
    const error = thrownError(() => planInference([images([JPEG, new Uint8Array(0)])], undefined, false, LIMITS));
    expect(error.code).toBe('FILE_EMPTY');
    expect(error.details).toMatchObject({ index: 1 });
  });

  test.each([
    ['an unknown output', [{ name: 'output0', parameters: {} }]],
    [
      'an output named twice',
      [
        { name: 'logits', parameters: {} },
        { name: 'logits', parameters: {} },
      ],
    ],
    ['classification 0', [{ name: 'logits', parameters: { classification: 0 } }]],
    ['classification 1001', [{ name: 'logits', parameters: { classification: 1001 } }]],
    ['classification "5"', [{ name: 'logits', parameters: { classification: '5' } }]],
    ['binary_data "yes"', [{ name: 'logits', parameters: { binary_data: 'yes' } }]],
  ])('%s with INVALID_ARGUMENT', (_, outputs) => {
    expect(thrownError(() => planInference([images([JPEG])], outputs, false, LIMITS)).code).toBe('INVALID_ARGUMENT');
  });

  test.each([
    ['a body that is an array', []],
    ['inputs missing', {}],
    ['an id that is a number', { id: 42, inputs: [] }],
    ['a shape with a negative dimension', { inputs: [{ name: 'image', datatype: 'BYTES', shape: [-1], data: [] }] }],
    ['an input with neither data nor binary_data_size', { inputs: [{ name: 'image', datatype: 'BYTES', shape: [1] }] }],
    ['a parameter that is an object', { inputs: [], parameters: { binary_data_output: { yes: true } } }],
  ])('readRestRequest: %s with INVALID_ARGUMENT', (_, header) => {
    expect(thrownError(() => readRestRequest(header, Buffer.alloc(0))).code).toBe('INVALID_ARGUMENT');
  });
});
