import type { Readable } from 'node:stream';
import type { FastifyRequest } from 'fastify';
import { invalidArgument, messageOf, ResnetServeError } from '../../../../errors.js';
import { bodyTooLarge, readUpload } from '../../../upload.js';
import type { InferRequest, Parameters, ParameterValue, WireInput, WireOutput } from '../handler.js';
import { checkShape } from '../tensor-shape.js';
import { inferJsonBounds, JsonBoundsScanner } from './json-bounds.js';

/**
 * Reads an infer request's body into one buffer, checking the structure of its JSON part as it arrives
 * ({@link JsonBoundsScanner}, bounded by what `maxImages` preprocessed tensors of the largest served input need): the
 * JSON is the whole body, or its first `Inference-Header-Content-Length` bytes.
 *
 * @param inputSize - the largest crop size among the served models (the route does not know the model yet).
 *
 * @throws ResnetServeError INVALID_ARGUMENT at the first structural bound the JSON passes; FILE_TOO_LARGE past
 *   `bodyLimit`.
 */
export async function readInferBody(
  request: FastifyRequest,
  payload: Readable,
  bodyLimit: number,
  maxImages: number,
  inputSize: number,
): Promise<Buffer> {
  const declared = request.headers['inference-header-content-length'];
  const jsonBytes = typeof declared === 'string' && /^\d+$/.test(declared.trim()) ? Number(declared) : Number.POSITIVE_INFINITY;
  const scanner = new JsonBoundsScanner(inferJsonBounds(maxImages, 3 * inputSize * inputSize, 3 * inputSize));
  let at = 0;
  const body = await readUpload(payload, Number(request.headers['content-length']), bodyLimit, (chunk) => {
    if (at < jsonBytes) scanner.feed(chunk.subarray(0, Math.min(chunk.length, jsonBytes - at)));
    at += chunk.length;
  });
  if (body === undefined) throw bodyTooLarge(bodyLimit, { receivedBytes: request.bodyBytesReceived });
  return body;
}

export interface SplitBody {
  /** The inference request or response object, parsed. */
  header: unknown;
  /** Everything after the JSON object: the tensors sent as binary data, in the order of the JSON's tensors. */
  binary: Buffer;
}

/**
 * Splits an HTTP body under Triton's binary tensor data extension (docs/protocol/extension_binary_data.md):
 * the first `Inference-Header-Content-Length` bytes are the JSON object, the rest is binary tensor data.
 * Without the header the whole body is JSON, as in the base protocol.
 *
 * @param body - The whole request body.
 * @param headerLength - The `Inference-Header-Content-Length` header's value, if any.
 * @throws ResnetServeError INVALID_ARGUMENT when the length is not an integer within the body, or the JSON does not parse.
 */
export function splitInferBody(body: Buffer, headerLength: string | undefined): SplitBody {
  let jsonBytes = body.length;
  if (headerLength !== undefined) {
    jsonBytes = Number(headerLength);
    if (!/^\d+$/.test(headerLength.trim()) || jsonBytes > body.length) {
      throw invalidArgument('Inference-Header-Content-Length', `an integer from 0 to the body's ${body.length} bytes`, headerLength);
    }
  }
  let header: unknown;
  try {
    header = JSON.parse(body.toString('utf8', 0, jsonBytes));
  } catch (cause) {
    throw new ResnetServeError('INVALID_ARGUMENT', `The inference request is not valid JSON: ${messageOf(cause)}`, { cause });
  }
  return { header, binary: body.subarray(jsonBytes) };
}

type JsonObject = Record<string, unknown>;

/**
 * Reads `$inference_request` (inference_rest.md) into the handler's request: `id`, `parameters` (its
 * `binary_data_output`), `inputs`, `outputs`. An input with a
 * `binary_data_size` parameter takes the next that many bytes after the JSON, in input order; every byte of
 * the binary data must belong to an input.
 *
 * @throws ResnetServeError INVALID_ARGUMENT naming the field that is missing or of the wrong type.
 */
export function readRestRequest(header: unknown, binary: Buffer): InferRequest {
  const request = object(header, 'the inference request');
  const id = request.id;
  if (id !== undefined && typeof id !== 'string') throw invalidArgument('id', 'a string', id);
  const parameters = parametersOf(request.parameters, 'parameters');
  const binaryOutput = parameters.binary_data_output ?? false;
  if (typeof binaryOutput !== 'boolean') throw invalidArgument('the binary_data_output parameter', 'a boolean', binaryOutput);

  if (!Array.isArray(request.inputs)) throw invalidArgument('inputs', 'an array of input tensors', request.inputs);
  let at = 0;
  const inputs = request.inputs.map((raw: unknown, i): WireInput => {
    const input = object(raw, `inputs[${i}]`);
    const name = string(input.name, `inputs[${i}].name`);
    const inputParameters = parametersOf(input.parameters, `the parameters of input "${name}"`);
    const size = inputParameters.binary_data_size;
    const base = {
      name,
      datatype: string(input.datatype, `the datatype of input "${name}"`),
      shape: shapeOf(input.shape, name),
      parameters: inputParameters,
    };
    if (size === undefined) {
      if (input.data === undefined) throw invalidArgument(`input "${name}"`, '`data`, or a binary_data_size parameter', undefined);
      return { ...base, data: { kind: 'json', value: input.data } };
    }
    if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 0) {
      throw invalidArgument(`the binary_data_size parameter of input "${name}"`, 'a non-negative integer', size);
    }
    if (input.data !== undefined) throw invalidArgument(`input "${name}"`, 'either `data` or binary_data_size, not both', 'both');
    if (at + size > binary.length) {
      throw new ResnetServeError(
        'INVALID_ARGUMENT',
        `Input "${name}" declares ${size} bytes of binary data but only ${binary.length - at} follow the JSON.`,
        {
          details: { input: name },
        },
      );
    }
    const bytes = binary.subarray(at, at + size);
    at += size;
    return { ...base, data: { kind: 'raw', bytes } };
  });
  if (at !== binary.length) {
    throw new ResnetServeError(
      'INVALID_ARGUMENT',
      `${binary.length - at} bytes after the JSON belong to no input (the inputs' binary_data_size add up to ${at}).`,
    );
  }

  let outputs: WireOutput[] | undefined;
  if (request.outputs !== undefined) {
    if (!Array.isArray(request.outputs)) throw invalidArgument('outputs', 'an array of requested outputs', request.outputs);
    outputs = request.outputs.map((raw: unknown, i) => {
      const output = object(raw, `outputs[${i}]`);
      const name = string(output.name, `outputs[${i}].name`);
      return { name, parameters: parametersOf(output.parameters, `the parameters of output "${name}"`) };
    });
  }
  return { id, inputs, outputs, binaryOutput };
}

function object(value: unknown, name: string): JsonObject {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw invalidArgument(name, 'a JSON object', value);
  return value as JsonObject;
}

function string(value: unknown, name: string): string {
  if (typeof value !== 'string') throw invalidArgument(name, 'a string', value);
  return value;
}

/** `$parameters`: name → string, number or boolean ("Parameters", inference_rest.md). */
function parametersOf(value: unknown, name: string): Parameters {
  if (value === undefined) return {};
  const parameters = object(value, name);
  for (const [key, parameter] of Object.entries(parameters)) {
    if (!['string', 'number', 'boolean'].includes(typeof parameter))
      throw invalidArgument(`${name}.${key}`, 'a string, number or boolean', parameter);
  }
  return parameters as Record<string, ParameterValue>;
}

function shapeOf(value: unknown, name: string): readonly number[] {
  return checkShape(name, value, Number.MAX_SAFE_INTEGER).shape;
}
