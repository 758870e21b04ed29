import { exactLength, integerInRange } from '../../guards.js';

/** How closely int8 logits follow fp32 logits over the same images. */
export interface Agreement {
  /** Share of images whose int8 top-1 class equals the fp32 top-1 class, in [0, 1]. */
  readonly top1: number;
  /**
   * Share of images whose fp32 top-1 class is among the int8 top-3 classes, in [0, 1]: the answer a user would
   * get from fp32 is still on the int8 top-3 list the service returns.
   */
  readonly top3: number;
  /** Mean over images of KL(softmax(fp32) ‖ softmax(int8)), in nats; 0 when the distributions are identical. */
  readonly meanKl: number;
}

/**
 * Compares two logits matrices image by image.
 *
 * @param fp32Logits - `n × classes` floats, row-major (the reference).
 * @param int8Logits - the same layout, from the quantised model.
 * @example agreement(Float32Array.of(2, 1, 0), Float32Array.of(2, 1, 0), 1, 3) → { top1: 1, top3: 1, meanKl: 0 }
 * @throws ResnetServeError INVALID_ARGUMENT when n or classes is not a positive integer or a matrix is not n × classes.
 */
export function agreement(fp32Logits: Float32Array, int8Logits: Float32Array, n: number, classes: number): Agreement {
  integerInRange('n', n, 1);
  integerInRange('classes', classes, 1);
  exactLength('fp32Logits.length', fp32Logits.length, n * classes, 'floats (n × classes)');
  exactLength('int8Logits.length', int8Logits.length, n * classes, 'floats (n × classes)');
  let top1 = 0;
  let top3 = 0;
  let kl = 0;
  for (let i = 0; i < n; i++) {
    const reference = fp32Logits.subarray(i * classes, (i + 1) * classes);
    const candidate = int8Logits.subarray(i * classes, (i + 1) * classes);
    const best = topIndices(reference, 1)[0];
    const candidateTop3 = topIndices(candidate, 3);
    if (candidateTop3[0] === best) top1++;
    if (best !== undefined && candidateTop3.includes(best)) top3++;
    kl += klDivergence(reference, candidate);
  }
  return { top1: top1 / n, top3: top3 / n, meanKl: kl / n };
}

/** Indices of the k largest values, largest first; ties keep the lower index first. */
function topIndices(values: Float32Array, k: number): number[] {
  return Array.from(values.keys())
    .sort((a, b) => (values[b] as number) - (values[a] as number) || a - b)
    .slice(0, k);
}

/** KL(softmax(p) ‖ softmax(q)) from logits, with log-sum-exp so large logits do not overflow. */
function klDivergence(p: Float32Array, q: Float32Array): number {
  const logZp = logSumExp(p);
  const logZq = logSumExp(q);
  let kl = 0;
  for (let c = 0; c < p.length; c++) {
    const logP = (p[c] as number) - logZp;
    kl += Math.exp(logP) * (logP - ((q[c] as number) - logZq));
  }
  return Math.max(kl, 0);
}

function logSumExp(values: Float32Array): number {
  let max = -Infinity;
  for (const v of values) max = Math.max(max, v);
  let sum = 0;
  for (const v of values) sum += Math.exp(v - max);
  return max + Math.log(sum);
}
