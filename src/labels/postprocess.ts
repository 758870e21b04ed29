import { exactLength, type IntegerOption, instanceOf, integerInRange, nonEmpty } from '../guards.js';
import { IMAGENET_LABELS, type LabelSet } from './label-set.js';
import type { Prediction } from './types.js';

/**
 * Softmax of `length` logits starting at `offset`, as torch.softmax computes it: the maximum is subtracted
 * first so `exp` cannot overflow (logits of ±1e4 stay finite), and the sum is accumulated in float64 so the
 * probabilities of 1000 classes add up to 1 within a few ulps. Non-finite logits give NaN probabilities.
 *
 * @param logits - Raw model output, e.g. one [N, C] batch buffer.
 * @param offset - First logit of the row. Default 0.
 * @param length - Number of logits in the row. Default: the rest of the buffer.
 * @returns float64 probabilities, one per logit.
 * @throws ResnetServeError INVALID_ARGUMENT when `logits` is not a Float32Array, or the row is not inside it.
 * @example
 * softmax(new Float32Array([1, 2, 3])) // → Float64Array [0.0900305731703804…, 0.2447284710547976…, 0.6652409557748218…]
 */
export function softmax(logits: Float32Array, offset = 0, length = logits.length - offset): Float64Array {
  instanceOf('logits', logits, Float32Array, 'a Float32Array');
  integerInRange('offset', offset, 0, logits.length);
  integerInRange('length', length, 0, logits.length - offset);
  let max = -Infinity;
  for (let i = 0; i < length; i++) max = Math.max(max, logits[offset + i] ?? -Infinity);
  const out = new Float64Array(length);
  let sum = 0;
  for (let i = 0; i < length; i++) {
    const e = Math.exp((logits[offset + i] ?? -Infinity) - max);
    out[i] = e;
    sum += e;
  }
  for (let i = 0; i < length; i++) out[i] = (out[i] ?? 0) / sum;
  return out;
}

/**
 * How many classes an answer names: 3 by default, as the page shows; at most 20, the most bars the page draws and
 * the largest `top` every shell (route, classifier, CLI) accepts.
 */
export const TOP_K = Object.freeze({ default: 3, min: 1, max: 20 }) satisfies IntegerOption;

export interface PostprocessOptions {
  /** How many classes to return, an integer from 1 to min(TOP_K.max, classes) (20). Default TOP_K.default (3), or `classes` if fewer. */
  topK?: number;
  /** Index of the row's first logit in the buffer, i.e. `row * classes`. Default 0. */
  offset?: number;
  /** Logits per row. Default: the rest of the buffer after `offset`, which is right for a single row. */
  classes?: number;
  /**
   * Names for the classes. Default IMAGENET_LABELS. When its length differs from `classes` (a test network
   * with 10 outputs, say), every prediction is named `class_<index>` in both languages rather than borrowing
   * ImageNet names that would be wrong.
   */
  labels?: LabelSet;
}

/**
 * The `topK` most probable classes of one row of logits, most probable first; equal probabilities are
 * ordered by lower class index. Probabilities are full float64 precision, not rounded.
 *
 * @throws ResnetServeError INVALID_ARGUMENT when `logits` is empty, `topK`, `offset` or `classes` is not an
 *   integer in range, or the label set's two languages differ in length.
 * @example
 * const logits = new Float32Array(1000); // one row of ResNet-18 output
 * logits[281] = 5; logits[285] = 4;
 * postprocess(logits, { topK: 2 })
 * // → [{ index: 281, label: 'tabby', label_zh: '虎斑猫', probability: 0.12357349008593223 },
 * //    { index: 285, label: 'Egyptian cat', label_zh: '埃及猫', probability: 0.045460146476417516 }]
 */
export function postprocess(logits: Float32Array, options: PostprocessOptions = {}): Prediction[] {
  nonEmpty('logits', logits, 'logit');
  const offset = integerInRange('offset', options.offset ?? 0, 0, logits.length - 1);
  const classes = integerInRange('classes', options.classes ?? logits.length - offset, 1, logits.length - offset);
  const topK = integerInRange('topK', options.topK ?? Math.min(TOP_K.default, classes), TOP_K.min, Math.min(TOP_K.max, classes));
  const labels = options.labels ?? IMAGENET_LABELS;
  exactLength('labels', labels.zh.length, labels.en.length, 'Chinese names, as many as English ones');
  const named = labels.en.length === classes;

  const probabilities = softmax(logits, offset, classes);
  return topIndices(probabilities, topK).map((index) => ({
    index,
    label: named ? (labels.en[index] ?? '') : `class_${index}`,
    label_zh: named ? (labels.zh[index] ?? '') : `class_${index}`,
    probability: probabilities[index] ?? 0,
  }));
}

/**
 * Indices of the k largest values, largest first, equal values by lower index. A k-long insertion list
 * instead of sorting all 1000: O(C·k) with k ≤ 20 and no allocation per class.
 */
function topIndices(values: Float64Array, k: number): number[] {
  const top: number[] = [];
  const before = (a: number, b: number): boolean => {
    const va = values[a] ?? NaN;
    const vb = values[b] ?? NaN;
    return va > vb || (va === vb && a < b);
  };
  for (let i = 0; i < values.length; i++) {
    if (top.length === k && !before(i, top[k - 1] ?? i)) continue;
    let at = top.length === k ? k - 1 : top.length;
    while (at > 0 && before(i, top[at - 1] ?? i)) {
      top[at] = top[at - 1] ?? i;
      at--;
    }
    top[at] = i;
  }
  return top;
}
