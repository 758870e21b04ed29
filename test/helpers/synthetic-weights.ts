import { convBnUnits, RESNET_CONFIGS, type ResNetName, resnetLayout } from '../../src/model/architectures/resnet-layout.js';
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
  const random = mulberry32(seed);
  const uniform = (count: number, low: number, high: number): Float32Array => {
    const out = new Float32Array(count);
    for (let i = 0; i < count; i++) out[i] = low + (high - low) * random();
    return out;
  };
  // A BatchNorm2d's four float tensors, in torchvision's order.
  const bnRanges = {
    weight: [0.8, 1.2],
    bias: [-0.1, 0.1],
    running_mean: [-0.1, 0.1],
    running_var: [0.5, 1.5],
  } as const;

  const stateDict: StateDict = new Map();
  const put = (key: string, shape: readonly number[], low: number, high: number): void => {
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
    put(`${unit.conv}.weight`, [unit.outChannels, unit.inChannels / unit.groups, unit.kernel, unit.kernel], -bound, bound);
    for (const [tensor, [low, high]] of Object.entries(bnRanges)) put(`${unit.bn}.${tensor}`, [unit.outChannels], low, high);
    stateDict.set(`${unit.bn}.num_batches_tracked`, { dtype: 'int64', shape: [], data: new BigInt64Array([0n]) });
  }
  const fcBound = 1 / Math.sqrt(layout.featureChannels);
  put('fc.weight', [layout.classes, layout.featureChannels], -fcBound, fcBound);
  put('fc.bias', [layout.classes], -fcBound, fcBound);
  return stateDict;
}
