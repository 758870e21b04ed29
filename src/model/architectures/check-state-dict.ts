import { ResnetServeError } from '../../errors.js';
import type { StateDict, TensorData } from '../../weights/types.js';

/** torchvision's defaults, used only when the tensor a dimension is read from is itself missing or malformed. */
const FALLBACK_CLASSES = 1000;
/** Per category; the full lists are in `details`. */
const MESSAGE_LIST_LIMIT = 8;

export interface MisshapedKey {
  key: string;
  expected: readonly number[];
  received: readonly number[];
  dtype: string;
  /** Elements actually held; differs from the product of `received` only when a reader is broken. */
  elements: number;
}

/**
 * Checks a state_dict against the float tensors an architecture needs (every key, in the architecture's order,
 * with its exact shape) and the keys it may hold besides (`num_batches_tracked` buffers). Architectures derive
 * `required` from their configuration and from the few shapes they infer (a stem's width, the class count).
 *
 * @param what - what the state_dict should be, for the message: `a torchvision resnet50 (1000 classes)`.
 * @throws ResnetServeError STATE_DICT_MISMATCH naming every missing, unexpected and mis-shaped key
 *   (`details.missing`, `details.unexpected`, `details.misshaped`) and, first, the first key that differs
 *   (`details.first`), in the architecture's order.
 */
export function checkTensorShapes(
  stateDict: StateDict,
  required: ReadonlyMap<string, readonly number[]>,
  optional: ReadonlySet<string>,
  what: string,
): void {
  const missing = [...required.keys()].filter((key) => !stateDict.has(key));
  const unexpected = [...stateDict.keys()].filter((key) => !required.has(key) && !optional.has(key));
  const misshaped: MisshapedKey[] = [];
  let first: string | undefined;
  for (const [key, expected] of required) {
    const tensor = stateDict.get(key);
    if (tensor === undefined) first ??= key;
    else if (!(isFloat(tensor) && sameShape(tensor.shape, expected) && hasAllElements(tensor))) {
      first ??= key;
      misshaped.push({ key, expected, received: tensor.shape, dtype: tensor.dtype, elements: tensor.data.length });
    }
  }
  first ??= unexpected[0];
  if (first === undefined) return;
  const parts = [
    listPart('missing', missing),
    listPart('unexpected', unexpected),
    listPart(
      'mis-shaped',
      misshaped.map((m) => `${m.key} (expected float [${m.expected.join(', ')}], received ${describeReceived(m)})`),
    ),
  ].filter((part) => part !== '');
  throw new ResnetServeError('STATE_DICT_MISMATCH', `The state_dict is not ${what}: ${parts.join('; ')}.`, {
    details: { first, missing, unexpected, misshaped },
  });
}

/** Names of the four tensors every BatchNorm2d stores, besides the optional `num_batches_tracked`. */
export const BATCH_NORM_TENSORS = ['weight', 'bias', 'running_mean', 'running_var'] as const;

/**
 * The tensors an architecture expects, collected in TorchVision's state_dict order (a module's parameters, then
 * its buffers, then its children in the order `__init__` registers them): what {@link checkTensorShapes} checks.
 */
export class ExpectedTensors {
  readonly required = new Map<string, readonly number[]>();
  readonly optional = new Set<string>();

  add(key: string, shape: readonly number[]): this {
    this.required.set(key, shape);
    return this;
  }

  /** nn.Conv2d: weight [out, in / groups, k, k], and bias [out] unless it is followed by a BatchNorm (bias=False). */
  conv(module: string, shape: { in: number; out: number; kernel: number; groups?: number; bias?: boolean }): this {
    this.add(`${module}.weight`, [shape.out, shape.in / (shape.groups ?? 1), shape.kernel, shape.kernel]);
    return shape.bias === true ? this.add(`${module}.bias`, [shape.out]) : this;
  }

  /**
   * nn.BatchNorm2d's four float tensors; `num_batches_tracked` is allowed but not required: checkpoints saved
   * before PyTorch 0.4.1 lack it and torchvision still loads those (BatchNorm `_load_from_state_dict`, version < 2).
   */
  batchNorm(module: string, channels: number): this {
    for (const tensor of BATCH_NORM_TENSORS) this.add(`${module}.${tensor}`, [channels]);
    this.optional.add(`${module}.num_batches_tracked`);
    return this;
  }

  /** nn.Linear: weight [out, in], bias [out]. */
  linear(module: string, inFeatures: number, outFeatures: number): this {
    return this.add(`${module}.weight`, [outFeatures, inFeatures]).add(`${module}.bias`, [outFeatures]);
  }

  /** @throws ResnetServeError STATE_DICT_MISMATCH as {@link checkTensorShapes}. */
  check(stateDict: StateDict, what: string): void {
    checkTensorShapes(stateDict, this.required, this.optional, what);
  }
}

/**
 * A dimension the architecture reads from the state_dict rather than its configuration — the class count from
 * `fc.weight` [classes, in], a stem's width — or `fallback` when that tensor is missing or malformed (the check
 * then names it).
 */
export function inferredDimension(stateDict: StateDict, key: string, rank: number, axis: number, fallback: number): number {
  const shape = stateDict.get(key)?.shape;
  const n = shape?.length === rank ? shape[axis] : undefined;
  return isPositive(n) ? n : fallback;
}

/** The outputs of the classifier `module` (an nn.Linear): its weight's first dimension, 1000 if unreadable. */
export function inferredClasses(stateDict: StateDict, module = 'fc'): number {
  return inferredDimension(stateDict, `${module}.weight`, 2, 0, FALLBACK_CLASSES);
}

function isPositive(n: number | undefined): n is number {
  return n !== undefined && Number.isSafeInteger(n) && n > 0;
}

/** Half and double tensors arrive widened to Float32Array (weights/safetensors.ts `toTensor`). */
function isFloat(tensor: TensorData): boolean {
  return tensor.data instanceof Float32Array;
}

/** A reader bug (e.g. a typed array over a whole pooled Buffer) must not reach the graph as a silent mis-read. */
function hasAllElements(tensor: TensorData): boolean {
  return tensor.data.length === tensor.shape.reduce((a, b) => a * b, 1);
}

function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((n, i) => n === b[i]);
}

function describeReceived(m: MisshapedKey): string {
  const shape = `${m.dtype} [${m.received.join(', ')}]`;
  return m.elements === m.received.reduce((a, b) => a * b, 1) ? shape : `${shape} holding ${m.elements} elements`;
}

function listPart(label: string, items: readonly string[]): string {
  if (items.length === 0) return '';
  const shown = items.slice(0, MESSAGE_LIST_LIMIT).join(', ');
  const more = items.length > MESSAGE_LIST_LIMIT ? ` and ${items.length - MESSAGE_LIST_LIMIT} more` : '';
  return `${label} ${shown}${more}`;
}
