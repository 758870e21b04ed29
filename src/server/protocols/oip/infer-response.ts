import type { LabelSet } from '../../../labels/label-set.js';
import { softmax } from '../../../labels/postprocess.js';
import { float32Bytes, writeBytesElements } from './binary-data.js';
import { classificationStrings } from './classification.js';
import type { PlannedOutput } from './infer-request.js';
import { CAM_OUTPUT_NAME, type OutputName } from './model-metadata.js';
import type { InferredBatch } from './run-inference.js';

/** One output tensor of an answer, before it is put on the wire. */
export type OutputTensor = {
  name: OutputName;
  shape: number[];
  binary: boolean;
} & ({ datatype: 'FP32'; values: Float32Array } | { datatype: 'BYTES'; values: string[] });

/**
 * The requested outputs of N images from their logits (`count × classes`, row-major): `logits` as the model
 * gives them, `probabilities` their softmax per row (the same float64 softmax /predict uses, stored as FP32),
 * and for an output with `classification` K, BYTES [N, K] strings instead of the tensor; `cam` is `cams`
 * (from `inferAll` with `explain`) as FP32 [N, grid, grid].
 */
export function inferOutputs(
  plan: readonly PlannedOutput[],
  { logits, count, classes, cams }: Pick<InferredBatch, 'logits' | 'count' | 'classes' | 'cams'>,
  labels: LabelSet,
  grid: number,
): OutputTensor[] {
  let probabilities: Float32Array | undefined;
  const tensor = (name: Exclude<OutputName, typeof CAM_OUTPUT_NAME>): Float32Array => {
    if (name === 'logits') return logits;
    if (probabilities === undefined) {
      probabilities = new Float32Array(count * classes);
      for (let row = 0; row < count; row++) probabilities.set(softmax(logits, row * classes, classes), row * classes);
    }
    return probabilities;
  };
  return plan.map(({ name, binary, classification }) => {
    if (name === CAM_OUTPUT_NAME) {
      return { name, shape: [count, grid, grid], binary, datatype: 'FP32', values: cams ?? new Float32Array(0) };
    }
    const values = tensor(name);
    if (classification === undefined) return { name, shape: [count, classes], binary, datatype: 'FP32', values };
    const strings: string[] = [];
    for (let row = 0; row < count; row++) strings.push(...classificationStrings(values, row * classes, classes, classification, labels));
    return { name, shape: [count, classification], binary, datatype: 'BYTES', values: strings };
  });
}

export interface InferAnswer {
  model_name: string;
  model_version: string;
  /** The request's `id`, when it had one. */
  id: string | undefined;
  outputs: readonly OutputTensor[];
}

/**
 * An output's values as raw little-endian bytes: FP32 as they are, BYTES elements each behind its 4-byte length
 * (UTF-8). Both bindings send tensors this way: REST as binary data after the JSON, gRPC in `raw_output_contents`.
 */
export function tensorBytes(output: OutputTensor): Buffer {
  return output.datatype === 'FP32' ? float32Bytes(output.values) : writeBytesElements(output.values.map((s) => Buffer.from(s, 'utf8')));
}
