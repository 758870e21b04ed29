import { ResnetServeError } from '../../errors.js';
import type { StateDict, TensorData } from '../../weights/types.js';

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
