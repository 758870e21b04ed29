/**
 * Inference requests built byte for byte as tritonclient's HTTP client builds them
 * (triton-inference-server/client src/python/library/tritonclient/http: `InferInput._get_tensor`,
 * `InferRequestedOutput._get_tensor`, `_utils._get_inference_request`, `utils.serialize_byte_tensor`):
 * compact JSON (python-rapidjson's `dumps`) in its key order, then each binary input's bytes in input order,
 * `Inference-Header-Content-Length` only when binary data follows, and no Content-Type header.
 */

export interface TritonInput {
  name: string;
  shape: number[];
  datatype: 'BYTES' | 'FP32';
  /** BYTES elements, or FP32 values in row-major order. */
  data: readonly Uint8Array[] | Float32Array;
  /** `set_data_from_numpy(..., binary_data=...)`; default true, as in tritonclient. */
  binary?: boolean;
}

export interface TritonOutput {
  name: string;
  /** Default true, as in tritonclient. */
  binary?: boolean;
  /** `class_count`; 0 (the default) asks for the tensor. */
  classCount?: number;
}

export interface TritonRequest {
  body: Buffer;
  headers: Record<string, string>;
}

/** `serialize_byte_tensor`: each element behind `struct.pack("<I", len(item))`. */
export function serializeByteTensor(elements: readonly Uint8Array[]): Buffer {
  return Buffer.concat(
    elements.flatMap((element) => {
      const length = Buffer.alloc(4);
      length.writeUInt32LE(element.length);
      return [length, Buffer.from(element)];
    }),
  );
}

export function tritonInferRequest(inputs: readonly TritonInput[], outputs: readonly TritonOutput[] = [], requestId = ''): TritonRequest {
  const raws: Buffer[] = [];
  const tensors = inputs.map((input) => {
    const tensor: Record<string, unknown> = { name: input.name, shape: input.shape, datatype: input.datatype };
    if (input.binary ?? true) {
      const raw =
        input.data instanceof Float32Array
          ? Buffer.from(input.data.buffer, input.data.byteOffset, input.data.byteLength)
          : serializeByteTensor(input.data);
      raws.push(raw);
      tensor.parameters = { binary_data_size: raw.length };
    } else {
      // JSON BYTES are `str(item, encoding="utf-8")`: images must already be base64 text here.
      tensor.data = input.data instanceof Float32Array ? Array.from(input.data) : input.data.map((e) => Buffer.from(e).toString('utf8'));
    }
    return tensor;
  });
  const request: Record<string, unknown> = {};
  const parameters: Record<string, unknown> = {};
  if (requestId !== '') request.id = requestId;
  request.inputs = tensors;
  if (outputs.length > 0) {
    request.outputs = outputs.map((output) => {
      const outputParameters: Record<string, unknown> = {};
      if ((output.classCount ?? 0) !== 0) outputParameters.classification = output.classCount;
      outputParameters.binary_data = output.binary ?? true;
      return { name: output.name, parameters: outputParameters };
    });
  } else {
    parameters.binary_data_output = true;
  }
  if (Object.keys(parameters).length > 0) request.parameters = parameters;
  const json = Buffer.from(JSON.stringify(request));
  if (raws.length === 0) return { body: json, headers: {} };
  return { body: Buffer.concat([json, ...raws]), headers: { 'Inference-Header-Content-Length': String(json.length) } };
}

/** What tritonclient's `InferResult` reads: the JSON header and each binary output's bytes. */
export function splitTritonResponse(
  body: Buffer,
  headerLength: string | undefined,
): {
  json: {
    outputs: { name: string; datatype: string; shape: number[]; data?: unknown[]; parameters?: { binary_data_size?: number } }[];
    id?: string;
    model_name: string;
  };
  binary: Map<string, Buffer>;
} {
  const length = headerLength === undefined ? body.length : Number(headerLength);
  const json = JSON.parse(body.subarray(0, length).toString('utf8'));
  const binary = new Map<string, Buffer>();
  let at = length;
  for (const output of json.outputs) {
    const size = output.parameters?.binary_data_size;
    if (size === undefined) continue;
    binary.set(output.name, body.subarray(at, at + size));
    at += size;
  }
  return { json, binary };
}

/** `deserialize_bytes_tensor`: the strings of a binary BYTES output. */
export function deserializeBytesTensor(data: Buffer): string[] {
  const out: string[] = [];
  let at = 0;
  while (at + 4 <= data.length) {
    const length = data.readUInt32LE(at);
    out.push(data.subarray(at + 4, at + 4 + length).toString('utf8'));
    at += 4 + length;
  }
  return out;
}
