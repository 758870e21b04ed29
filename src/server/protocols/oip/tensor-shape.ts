import { ResnetServeError } from '../../../errors.js';

/** Dimensions a tensor may have on the wire: the model's inputs have 1, 2 or 4; 8 is Triton's own limit. */
export const MAX_DIMS = 8;

/**
 * Checks a tensor's `shape` as it came off the wire (REST's JSON, gRPC's `repeated int64`), before anything is
 * allocated from it: an array of at most {@link MAX_DIMS} non-negative safe integers whose product, the element
 * count, is at most `maxElements`. The product is checked dimension by dimension, so it never overflows.
 *
 * @param input - the input's name, for the message.
 * @returns the shape, typed, and its element count.
 * @throws ResnetServeError INVALID_ARGUMENT naming the input, with `details.limit` and what was received.
 */
export function checkShape(input: string, shape: unknown, maxElements: number): { shape: readonly number[]; elements: number } {
  const refuse = (why: string, details: Record<string, unknown>): ResnetServeError =>
    new ResnetServeError('INVALID_ARGUMENT', `The shape of input "${input}" ${why}.`, {
      details: { input, parameter: 'shape', ...details },
    });
  if (!Array.isArray(shape)) throw refuse('must be an array of non-negative integers', {});
  if (shape.length > MAX_DIMS)
    throw refuse(`has ${shape.length} dimensions; at most ${MAX_DIMS} are allowed`, { limit: MAX_DIMS, received: shape.length });
  let elements = 1;
  shape.forEach((dim: unknown, index) => {
    if (typeof dim !== 'number' || !Number.isSafeInteger(dim) || dim < 0) {
      throw refuse(`has dimension ${index} that is not a non-negative integer`, { index });
    }
    elements *= dim;
    if (elements > maxElements) {
      throw refuse(`holds more than ${maxElements} elements, the most one request can carry`, { limit: maxElements });
    }
  });
  return { shape: shape as number[], elements };
}

/**
 * Checks that a tensor's contents hold as many elements as its shape says, before any array is built from them.
 * @throws ResnetServeError INVALID_ARGUMENT naming the input.
 */
export function expectElements(input: string, shape: readonly number[], expected: number, received: number, unit = 'values'): void {
  if (received === expected) return;
  throw new ResnetServeError(
    'INVALID_ARGUMENT',
    `Input "${input}" has shape [${shape.join(', ')}], ${expected} ${unit}, but ${received} were sent.`,
    { details: { input, expected, received } },
  );
}

/** Bytes per element of each datatype ("Tensor Data Types", the Open Inference Protocol); BYTES has none fixed. */
export const DATATYPE_BYTES: Readonly<Record<string, number | undefined>> = Object.freeze({
  BOOL: 1,
  UINT8: 1,
  UINT16: 2,
  UINT32: 4,
  UINT64: 8,
  INT8: 1,
  INT16: 2,
  INT32: 4,
  INT64: 8,
  FP16: 2,
  BF16: 2,
  FP32: 4,
  FP64: 8,
  BYTES: undefined,
});

export interface TensorLimits {
  /** Largest element count of a fixed-size tensor: the largest valid request's (N × 3 × 224 × 224 here). */
  readonly maxElements: number;
  /** Largest element count of a BYTES tensor, each element an object of its own (an image here). */
  readonly maxBytesElements: number;
}

/** What a shape may describe: the bound the datatype's elements are held to. */
export function maxElementsOf(datatype: string, limits: TensorLimits): number {
  return datatype === 'BYTES' ? limits.maxBytesElements : limits.maxElements;
}
