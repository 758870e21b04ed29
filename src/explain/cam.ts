import { ResnetServeError } from '../errors.js';
import { instanceOf, integerInRange } from '../guards.js';
import type { ClassifierHead } from '../model/classifier-head.js';

/** Cells of one map: the `features` grid, g × g (49 for a ResNet at 224 px). */
export function camCells(head: Pick<ClassifierHead, 'grid'>): number {
  return head.grid * head.grid;
}

/**
 * The class activation map of Zhou et al. 2016 ("Learning Deep Features for Discriminative Localization", eq. 2):
 * `CAM_c(i, j) = Σ_k w_ck · A_k(i, j)`, with A what the global average pool reads (the graph output `features`,
 * [channels, g, g] for one image) and w the fc weights. For every head that is global-average-pool → linear (ResNet,
 * RegNet, EfficientNet) this is g² × Grad-CAM on A (Selvaraju et al. 2017): the pool makes
 * ∂logit_c / ∂A_k(i, j) = w_ck / g² everywhere. The mean of the map plus `fc.bias[c]` is the logit, so the map shows
 * how each cell of the crop adds to the class's score.
 *
 * @param features - one image's `features`, `channels × g × g` floats (or a batch of them, with `offset`).
 * @param offset - where this image's features start in `features`.
 * @returns g × g raw values, row-major (row 0 is the top of the crop), before any ReLU or normalisation.
 * @throws ResnetServeError INVALID_ARGUMENT when `features` is not a Float32Array, or `classIndex` or `offset` is
 *   outside the head or the features.
 */
export function rawCam(features: Float32Array, head: ClassifierHead, classIndex: number, offset = 0): Float32Array {
  const cells = camCells(head);
  instanceOf('features', features, Float32Array, 'a Float32Array');
  integerInRange('classIndex', classIndex, 0, head.classes - 1);
  integerInRange('offset', offset, 0);
  if (offset + head.channels * cells > features.length) {
    throw new ResnetServeError(
      'INVALID_ARGUMENT',
      `Expected ${head.channels} × ${cells} feature values from offset ${offset} but received ${features.length} in all`,
      { details: { parameter: 'features' } },
    );
  }
  // float64 sums: 512 terms of mixed sign, so the map is as exact as its inputs (|Δ| ~1e-7 vs PyTorch).
  const sums = new Float64Array(cells);
  const row = classIndex * head.channels;
  for (let k = 0; k < head.channels; k++) {
    const w = head.weight[row + k] as number;
    if (w === 0) continue;
    const base = offset + k * cells;
    for (let i = 0; i < cells; i++) sums[i] = (sums[i] as number) + w * (features[base + i] as number);
  }
  return Float32Array.from(sums);
}

/**
 * The map shown to users: ReLU (only evidence for the class, as Grad-CAM's eq. 2 keeps), then divided by its
 * maximum, so the strongest cell is 1 and every value lies in 0..1. A map with no positive cell is all zeros.
 */
export function normaliseCam(raw: Float32Array): Float32Array {
  instanceOf('raw', raw, Float32Array, 'a Float32Array');
  let max = 0;
  for (const v of raw) if (v > max) max = v;
  return raw.map((v) => (max > 0 && v > 0 ? v / max : 0));
}
