import type { Classifier, InferResult, Timings } from '../../../classifier/types.js';
import { inContext, isResnetServeError } from '../../../errors.js';
import type { PlannedInput } from './infer-request.js';

export interface InferredBatch {
  /** `count × classes` logits, row-major, in the request's order. */
  logits: Float32Array;
  count: number;
  classes: number;
  timings: Timings[];
  /** With `explain`: each element's top-class map, `count × grid × grid`, row-major. */
  cams?: Float32Array;
}

/**
 * Runs every element of a request through the classifier at once, so they share the batching queue with
 * every other request (N images may fill several batches). All elements are awaited; if any failed, the
 * request fails with the lowest failing index: its registry code, and the index in the message and in
 * `details.index`.
 *
 * @param inputName - The input's name, for messages.
 * @param explain - also compute each element's `cam` (the request named that output).
 */
export async function inferAll(
  classifier: Pick<Classifier, 'infer'>,
  input: PlannedInput,
  inputName: string,
  explain = false,
): Promise<InferredBatch> {
  const per = input.kind === 'tensors' ? input.data.length / input.count : 0;
  const elements: (Uint8Array | Float32Array)[] =
    input.kind === 'images'
      ? [...input.images]
      : Array.from({ length: input.count }, (_, i) => input.data.subarray(i * per, (i + 1) * per));
  const settled = await Promise.allSettled(elements.map((element) => classifier.infer(element, { explain })));
  const failed = settled.findIndex((s) => s.status === 'rejected');
  if (failed !== -1) throw elementFailed((settled[failed] as PromiseRejectedResult).reason, inputName, failed);
  const results = settled.map((s) => (s as PromiseFulfilledResult<InferResult>).value);
  const classes = results[0]?.logits.length ?? 0;
  const logits = new Float32Array(results.length * classes);
  for (const [row, result] of results.entries()) logits.set(result.logits, row * classes);
  const batch = { logits, count: results.length, classes, timings: results.map((r) => r.timings_ms) };
  if (!explain) return batch;
  const cells = results[0]?.cam?.length ?? 0;
  const cams = new Float32Array(results.length * cells);
  for (const [row, result] of results.entries()) if (result.cam !== undefined) cams.set(result.cam, row * cells);
  return { ...batch, cams };
}

function elementFailed(reason: unknown, inputName: string, index: number): unknown {
  if (!isResnetServeError(reason)) return reason;
  return inContext(reason, `Input "${inputName}" element ${index}`, { input: inputName, index });
}
