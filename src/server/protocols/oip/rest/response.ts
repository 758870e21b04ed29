import { type InferAnswer, tensorBytes } from '../handler.js';

export interface EncodedBody {
  body: Buffer;
  /** The JSON's length when binary data follows it: the `Inference-Header-Content-Length` to send. */
  headerLength: number | undefined;
  contentType: string;
}

/**
 * The REST body of an answer: the response JSON object, then the binary data of every output that asked
 * for it, in output order (extension_binary_data.md). BYTES elements in JSON are UTF-8 strings.
 */
export function encodeRestAnswer(answer: InferAnswer): EncodedBody {
  const tails: Buffer[] = [];
  const outputs = answer.outputs.map((output) => {
    const described = { name: output.name, datatype: output.datatype, shape: output.shape };
    if (!output.binary) return { ...described, data: output.datatype === 'FP32' ? Array.from(output.values) : output.values };
    const bytes = tensorBytes(output);
    tails.push(bytes);
    return { ...described, parameters: { binary_data_size: bytes.length } };
  });
  const json = Buffer.from(
    JSON.stringify({
      model_name: answer.model_name,
      model_version: answer.model_version,
      ...(answer.id === undefined ? {} : { id: answer.id }),
      outputs,
    }),
    'utf8',
  );
  if (tails.length === 0) return { body: json, headerLength: undefined, contentType: 'application/json; charset=utf-8' };
  return { body: Buffer.concat([json, ...tails]), headerLength: json.length, contentType: 'application/octet-stream' };
}
