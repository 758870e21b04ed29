import { invalidArgument, ResnetServeError } from '../../../errors.js';
import { readBytesElements, readFloat32 } from './binary-data.js';
import { CAM_OUTPUT_NAME, IMAGE_INPUT, OUTPUT_NAMES, type OutputName, TENSOR_INPUT } from './model-metadata.js';
import { checkShape, expectElements, type TensorLimits } from './tensor-shape.js';

/** A parameter value as both protocols carry it: JSON scalars over REST, InferParameter's oneof over gRPC. */
export type ParameterValue = string | number | boolean;
export type Parameters = Readonly<Record<string, ParameterValue>>;

/**
 * One input tensor as it arrived, before it is checked: what REST's JSON (with its binary tail) and gRPC's
 * ModelInferRequest both reduce to, so that one function decides what is valid for either protocol.
 */
export interface WireInput {
  name: string;
  datatype: string;
  shape: readonly number[];
  parameters: Parameters;
  /** JSON `data` (flat or nested), raw little-endian bytes, BYTES elements, or FP32 values. */
  data:
    | { kind: 'json'; value: unknown }
    | { kind: 'raw'; bytes: Uint8Array }
    | { kind: 'elements'; values: readonly Uint8Array[] }
    | { kind: 'floats'; values: ArrayLike<number> };
}

export interface WireOutput {
  name: string;
  parameters: Parameters;
}

/** One inference request as either binding reads it off the wire, before it is checked. */
export interface InferRequest {
  /** Echoed in the answer. */
  id: string | undefined;
  inputs: readonly WireInput[];
  /** `undefined`: every output the model has. */
  outputs: readonly WireOutput[] | undefined;
  /** Outputs without their own `binary_data` parameter are returned as binary data (REST's `binary_data_output`). */
  binaryOutput: boolean;
}

/** What a checked request asks for: N encoded images or N preprocessed tensors. */
export type PlannedInput = { kind: 'images'; images: readonly Uint8Array[] } | { kind: 'tensors'; count: number; data: Float32Array };

export interface PlannedOutput {
  name: OutputName;
  /** Returned as binary data after the JSON (REST); gRPC always returns raw contents. */
  binary: boolean;
  /** Top-K as "<value>:<index>:<label>" strings instead of the tensor (the classification extension). */
  classification: number | undefined;
}

export interface InferPlan {
  input: PlannedInput;
  outputs: readonly PlannedOutput[];
}

export interface InferLimits {
  /** Largest N (images or tensors) in one request. */
  maxImages: number;
  /** Largest encoded image, in bytes: the same limit as an upload to /predict. */
  maxImageBytes: number;
  /** Classes the model outputs: the largest `classification` count. */
  classes: number;
  /** Side of the model's square input (its recipe's crop size): an `input` tensor is FP32 [N, 3, side, side]. */
  inputSize: number;
}

/** Values of one preprocessed image for a model whose input is `side` × `side`. */
function elementsPerImage(side: number): number {
  return 3 * side * side;
}

/** The largest tensors a valid request holds: N preprocessed images of FP32, or N encoded images of BYTES. */
export function tensorLimitsOf(limits: Pick<InferLimits, 'maxImages' | 'inputSize'>): TensorLimits {
  return { maxElements: limits.maxImages * elementsPerImage(limits.inputSize), maxBytesElements: limits.maxImages };
}

/**
 * Checks one inference request and says what to run: one input (`image` BYTES [N] or [N,1], or `input` FP32
 * [N,3,224,224]) and the outputs to return (all of them when none are named). Sizes are checked before any
 * image is decoded: each element like an upload to /predict, N against `maxImages`.
 *
 * @param defaultBinary - REST's `binary_data_output` request parameter: outputs without their own
 *   `binary_data` are returned as binary data.
 * @throws ResnetServeError INVALID_ARGUMENT (names, datatypes, shapes, sizes, parameters), FILE_EMPTY and
 *   FILE_TOO_LARGE (an element, with its index in the message and `details.index`).
 */
export function planInference(
  inputs: readonly WireInput[],
  outputs: readonly WireOutput[] | undefined,
  defaultBinary: boolean,
  limits: InferLimits,
): InferPlan {
  if (inputs.length !== 1) {
    throw new ResnetServeError(
      'INVALID_ARGUMENT',
      `The model takes exactly one input ("${IMAGE_INPUT.name}" ${IMAGE_INPUT.datatype} or "${TENSOR_INPUT.name}" ${TENSOR_INPUT.datatype}), but the request has ${inputs.length}.`,
      { details: { parameter: 'inputs' } },
    );
  }
  const [wire] = inputs as [WireInput];
  // Dimensions and element count first, whatever the input: nothing below allocates more than the shape allows.
  checkShape(wire.name, wire.shape, limits.maxImages * elementsPerImage(limits.inputSize));
  const input =
    wire.name === IMAGE_INPUT.name ? planImages(wire, limits) : wire.name === TENSOR_INPUT.name ? planTensors(wire, limits) : undefined;
  if (input === undefined) {
    throw new ResnetServeError(
      'INVALID_ARGUMENT',
      `Unknown input "${wire.name}": the model's inputs are "${IMAGE_INPUT.name}" and "${TENSOR_INPUT.name}".`,
      {
        details: { parameter: 'inputs', input: wire.name },
      },
    );
  }
  return { input, outputs: planOutputs(outputs, defaultBinary, limits.classes) };
}

function planImages(wire: WireInput, limits: InferLimits): PlannedInput {
  expectDatatype(wire, IMAGE_INPUT.datatype);
  const shape = wire.shape;
  if (!(shape.length === 1 || (shape.length === 2 && shape[1] === 1))) {
    throw badShape(wire, '[N] or [N, 1]');
  }
  const count = batchSize(wire, limits);
  const images = imageElements(wire, count);
  images.forEach((image, index) => {
    const subject = `Input "${wire.name}" element ${index}`;
    if (image.length === 0) {
      throw new ResnetServeError('FILE_EMPTY', { subject }, { details: { input: wire.name, index } });
    }
    if (image.length > limits.maxImageBytes) {
      throw new ResnetServeError(
        'FILE_TOO_LARGE',
        { subject, limitBytes: limits.maxImageBytes },
        { details: { input: wire.name, index, limitBytes: limits.maxImageBytes, receivedBytes: image.length } },
      );
    }
  });
  return { kind: 'images', images };
}

/** The images of an input, as many as its shape says (checked before any is decoded from base64). */
function imageElements(wire: WireInput, count: number): readonly Uint8Array[] {
  const counted = <T>(elements: readonly T[]): readonly T[] => {
    expectElements(wire.name, wire.shape, count, elements.length, 'elements');
    return elements;
  };
  switch (wire.data.kind) {
    case 'raw':
      return counted(readBytesElements(wire.data.bytes, wire.name));
    case 'elements':
      return counted(wire.data.values);
    case 'json': {
      const values = wire.data.value;
      if (!Array.isArray(values)) throw invalidArgument(`the data of input "${wire.name}"`, 'an array of base64 strings', values);
      return counted(values.flat(1)).map((value: unknown, index) => decodeBase64(wire.name, value, index));
    }
    case 'floats':
      throw invalidArgument(`the contents of input "${wire.name}"`, 'bytes_contents or raw_input_contents', 'fp32_contents');
  }
}

/**
 * KServe's convention for images in JSON: each BYTES element is the file in standard base64. Buffer's own
 * decoder skips any character it does not know, so the text is checked first: a typo must fail, not decode
 * to a different file.
 */
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

function decodeBase64(name: string, value: unknown, index: number): Uint8Array {
  if (typeof value !== 'string' || !BASE64.test(value)) {
    throw new ResnetServeError(
      'INVALID_ARGUMENT',
      `Input "${name}" element ${index} is not a base64 string (KServe's encoding of an image in JSON; send raw bytes with the binary data extension).`,
      { details: { input: name, index } },
    );
  }
  return Buffer.from(value, 'base64');
}

function planTensors(wire: WireInput, limits: InferLimits): PlannedInput {
  expectDatatype(wire, TENSOR_INPUT.datatype);
  const cropSize = limits.inputSize;
  const perImage = elementsPerImage(cropSize);
  const shape = wire.shape;
  if (shape.length !== 4 || shape[1] !== 3 || shape[2] !== cropSize || shape[3] !== cropSize) {
    throw badShape(wire, `[N, 3, ${cropSize}, ${cropSize}]`);
  }
  const count = batchSize(wire, limits);
  const data = tensorValues(wire, count * perImage);
  const bad = data.findIndex((value) => !Number.isFinite(value));
  if (bad !== -1) {
    const index = Math.floor(bad / perImage);
    throw new ResnetServeError('INVALID_ARGUMENT', `Input "${wire.name}" element ${index} has a value that is not a finite number.`, {
      details: { input: wire.name, index },
    });
  }
  return { kind: 'tensors', count, data };
}

/** The values of an input, as many as its shape says: counted before any Float32Array is made. */
function tensorValues(wire: WireInput, expected: number): Float32Array {
  switch (wire.data.kind) {
    case 'raw':
      if (wire.data.bytes.length !== expected * Float32Array.BYTES_PER_ELEMENT) {
        throw new ResnetServeError(
          'INVALID_ARGUMENT',
          `Input "${wire.name}" needs ${expected * Float32Array.BYTES_PER_ELEMENT} bytes of FP32 data, but ${wire.data.bytes.length} were sent.`,
          { details: { input: wire.name } },
        );
      }
      return readFloat32(wire.data.bytes);
    case 'floats':
      expectElements(wire.name, wire.shape, expected, wire.data.values.length);
      return Float32Array.from(wire.data.values);
    case 'json':
      return jsonFloats(wire.name, wire.data.value, wire.shape, expected);
    case 'elements':
      throw invalidArgument(`the contents of input "${wire.name}"`, 'fp32_contents or raw_input_contents', 'bytes_contents');
  }
}

/** Row-major values of JSON `data`, flat or nested as the spec allows ("Tensor Data"), without recursion. */
function jsonFloats(name: string, value: unknown, shape: readonly number[], expected: number): Float32Array {
  if (!Array.isArray(value)) throw invalidArgument(`the data of input "${name}"`, 'an array of numbers', value);
  const flat = value.flat(3) as unknown[];
  expectElements(name, shape, expected, flat.length);
  const perImage = expected / Math.max(1, shape[0] ?? 1);
  const out = new Float32Array(flat.length);
  for (let i = 0; i < flat.length; i++) {
    const element = flat[i];
    if (typeof element !== 'number') {
      throw new ResnetServeError('INVALID_ARGUMENT', `Input "${name}" value ${i} is not a number.`, {
        details: { input: name, index: Math.floor(i / perImage) },
      });
    }
    out[i] = element;
  }
  return out;
}

function planOutputs(outputs: readonly WireOutput[] | undefined, defaultBinary: boolean, classes: number): PlannedOutput[] {
  if (outputs === undefined || outputs.length === 0) {
    return OUTPUT_NAMES.map((name) => ({ name, binary: defaultBinary, classification: undefined }));
  }
  const seen = new Set<string>();
  const known: readonly string[] = [...OUTPUT_NAMES, CAM_OUTPUT_NAME];
  return outputs.map((output) => {
    if (!known.includes(output.name)) {
      throw new ResnetServeError(
        'INVALID_ARGUMENT',
        `Unknown output "${output.name}": the model's outputs are ${known.map((n) => `"${n}"`).join(', ')}.`,
        {
          details: { parameter: 'outputs', output: output.name },
        },
      );
    }
    if (seen.has(output.name)) throw invalidArgument('outputs', 'each output named at most once', output.name);
    seen.add(output.name);
    const binary = output.parameters.binary_data ?? defaultBinary;
    if (typeof binary !== 'boolean') throw invalidArgument(`the binary_data parameter of output "${output.name}"`, 'a boolean', binary);
    const classification = output.parameters.classification;
    if (
      classification !== undefined &&
      (typeof classification !== 'number' || !Number.isInteger(classification) || classification < 1 || classification > classes)
    ) {
      throw invalidArgument(`the classification parameter of output "${output.name}"`, `an integer from 1 to ${classes}`, classification);
    }
    if (output.name === CAM_OUTPUT_NAME && classification !== undefined) {
      throw invalidArgument(
        `the classification parameter of output "${CAM_OUTPUT_NAME}"`,
        'nothing (a map is not class scores)',
        classification,
      );
    }
    return { name: output.name as OutputName, binary, classification };
  });
}

function expectDatatype(wire: WireInput, datatype: string): void {
  if (wire.datatype !== datatype) {
    throw new ResnetServeError(
      'INVALID_ARGUMENT',
      `Input "${wire.name}" must have datatype ${datatype}, not ${JSON.stringify(wire.datatype)}.`,
      {
        details: { input: wire.name, datatype: wire.datatype },
      },
    );
  }
}

function batchSize(wire: WireInput, limits: InferLimits): number {
  const count = wire.shape[0] ?? 0;
  if (!Number.isInteger(count) || count < 1 || count > limits.maxImages) {
    throw new ResnetServeError(
      'INVALID_ARGUMENT',
      `Input "${wire.name}" holds ${count} elements; one request takes 1 to ${limits.maxImages} (--max-infer-images).`,
      { details: { input: wire.name, limit: limits.maxImages, received: count } },
    );
  }
  return count;
}

function badShape(wire: WireInput, expected: string): ResnetServeError {
  return new ResnetServeError('INVALID_ARGUMENT', `Input "${wire.name}" must have shape ${expected}, not [${wire.shape.join(', ')}].`, {
    details: { input: wire.name, shape: [...wire.shape] },
  });
}

/** The request named the `cam` output: the elements are run with explanations. */
export function wantsCam(outputs: readonly PlannedOutput[]): boolean {
  return outputs.some((output) => output.name === CAM_OUTPUT_NAME);
}
