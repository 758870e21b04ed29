import { BATCH_NORM_TENSORS } from '../../src/model/architectures/check-state-dict.js';
import { convBnUnits, RESNET_CONFIGS, type ResNetName, resnetLayout, resnetTensors } from '../../src/model/architectures/resnet-layout.js';
import type { StateDict } from '../../src/weights/types.js';
import { mulberry32 } from './random.js';

export interface SyntheticResNetOptions {
  /** Stem width; torchvision 64 (default). */
  width?: number;
  /** fc outputs; ImageNet 1000 (default). */
  classes?: number;
}

/** {@link syntheticResNetStateDict} of a ResNet-18. */
export function syntheticResNet18StateDict(seed: number, options: SyntheticResNetOptions = {}): StateDict {
  return syntheticResNetStateDict('resnet18', seed, options);
}

/**
 * A deterministic torchvision ResNet state_dict with torchvision's keys, order, shapes and dtypes (including the int64
 * `num_batches_tracked` scalars), for plumbing tests that need a real-sized model without the 46 MB download.
 * Values are random but well-scaled (He-uniform convs, torch's Linear init for fc, BN statistics near 1/0),
 * so logits stay finite and of order 1. The same seed always gives the same tensors.
 */
export function syntheticResNetStateDict(name: ResNetName, seed: number, options: SyntheticResNetOptions = {}): StateDict {
  const layout = resnetLayout(RESNET_CONFIGS[name], options.width ?? 64, options.classes ?? 1000);
  const shapes = resnetTensors(layout).required;
  const random = mulberry32(seed);
  const uniform = (count: number, low: number, high: number): Float32Array => {
    const out = new Float32Array(count);
    for (let i = 0; i < count; i++) out[i] = low + (high - low) * random();
    return out;
  };
  const bnRanges: Record<(typeof BATCH_NORM_TENSORS)[number], [number, number]> = {
    weight: [0.8, 1.2],
    bias: [-0.1, 0.1],
    running_mean: [-0.1, 0.1],
    running_var: [0.5, 1.5],
  };

  const stateDict: StateDict = new Map();
  const put = (key: string, low: number, high: number): void => {
    const shape = shapes.get(key) ?? [];
    stateDict.set(key, {
      dtype: 'float32',
      shape,
      data: uniform(
        shape.reduce((a, b) => a * b, 1),
        low,
        high,
      ),
    });
  };
  for (const unit of convBnUnits(layout)) {
    const bound = Math.sqrt(6 / ((unit.inChannels / unit.groups) * unit.kernel * unit.kernel));
    put(`${unit.conv}.weight`, -bound, bound);
    for (const tensor of BATCH_NORM_TENSORS) put(`${unit.bn}.${tensor}`, ...bnRanges[tensor]);
    stateDict.set(`${unit.bn}.num_batches_tracked`, { dtype: 'int64', shape: [], data: new BigInt64Array([0n]) });
  }
  const fcBound = 1 / Math.sqrt(layout.featureChannels);
  put('fc.weight', -fcBound, fcBound);
  put('fc.bias', -fcBound, fcBound);
  return stateDict;
}
