import type { StateDict } from '../../weights/types.js';
import { IMAGENET_1K_CLASSES } from '../types.js';
import { checkTensorShapes } from './check-state-dict.js';

/** The four float tensors of a BatchNorm2d, in the order TorchVision's state_dict lists them. */
const BATCH_NORM_TENSORS = ['weight', 'bias', 'running_mean', 'running_var'] as const;

/**
 * The tensors an architecture's state_dict must hold, collected module by module in TorchVision's order while the
 * architecture walks its layout, then checked at once (`checkTensorShapes`), so the first key named in a
 * STATE_DICT_MISMATCH is the first one TorchVision's own `load_state_dict` would meet.
 */
export class ExpectedTensors {
  readonly #required = new Map<string, readonly number[]>();
  readonly #optional = new Set<string>();

  tensor(key: string, shape: readonly number[]): this {
    this.#required.set(key, shape);
    return this;
  }

  /** nn.Conv2d: `weight` [out, in / groups, k, k] and, when it has one, `bias` [out]. */
  conv(module: string, spec: { in: number; out: number; kernel: number; groups?: number; bias?: boolean }): this {
    this.tensor(`${module}.weight`, [spec.out, spec.in / (spec.groups ?? 1), spec.kernel, spec.kernel]);
    return spec.bias === true ? this.tensor(`${module}.bias`, [spec.out]) : this;
  }

  /**
   * nn.BatchNorm2d: weight, bias and running statistics; `num_batches_tracked` is allowed but not required
   * (checkpoints saved before PyTorch 0.4.1 lack it and TorchVision still loads them).
   */
  batchNorm(module: string, channels: number): this {
    for (const tensor of BATCH_NORM_TENSORS) this.tensor(`${module}.${tensor}`, [channels]);
    this.#optional.add(`${module}.num_batches_tracked`);
    return this;
  }

  /** nn.LayerNorm (and ConvNeXt's LayerNorm2d) over `channels`. */
  layerNorm(module: string, channels: number): this {
    return this.tensor(`${module}.weight`, [channels]).tensor(`${module}.bias`, [channels]);
  }

  /** nn.Linear: `weight` [out, in] and `bias` [out]. */
  linear(module: string, inFeatures: number, outFeatures: number): this {
    return this.tensor(`${module}.weight`, [outFeatures, inFeatures]).tensor(`${module}.bias`, [outFeatures]);
  }

  /**
   * @param what - what the state_dict should be, for the message: `a torchvision mobilenet_v3_large (1000 classes)`.
   * @throws ResnetServeError STATE_DICT_MISMATCH as {@link checkTensorShapes}.
   */
  check(stateDict: StateDict, what: string): void {
    checkTensorShapes(stateDict, this.#required, this.#optional, what);
  }
}

/** The class count of a state_dict: rows of its last Linear's weight, or ImageNet's 1000 when that is malformed. */
export function classesOf(stateDict: StateDict, linear: string): number {
  const shape = stateDict.get(`${linear}.weight`)?.shape;
  const rows = shape?.length === 2 ? shape[0] : undefined;
  return rows !== undefined && Number.isSafeInteger(rows) && rows > 0 ? rows : IMAGENET_1K_CLASSES;
}
