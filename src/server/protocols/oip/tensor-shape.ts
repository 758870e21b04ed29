import { ResnetServeError } from '../../../errors.js';

/**
 * The checks every input tensor passes before anything is sized from its shape, for either binding: the gRPC
 * wire scan runs them on the undecoded bytes, `planInference` on what REST's JSON and gRPC's decoder produced.
 * They know the protocol (shape, datatypes, element counts), not this model; the model's own rules stay in
 * infer-request.ts.
 */

/** Triton's limit on a tensor's rank (`MAX_DIMS`, triton-inference-server/core); ours has at most 4. */
export const MAX_DIMS = 8;

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

/**
 * The element count `shape` describes, after checking its rank (at most {@link MAX_DIMS}), every dim (a
 * non-negative integer) and the product (at most `maxElements`, so nothing sized from it can be larger).
 *
 * @throws ResnetServeError INVALID_ARGUMENT naming the input.
 */
export function tensorElements(name: string, shape: readonly number[], maxElements: number): number {
  if (shape.length > MAX_DIMS) {
    throw new ResnetServeError('INVALID_ARGUMENT', `Input "${name}" has ${shape.length} dims; a tensor has at most ${MAX_DIMS}.`, {
      details: { input: name, dims: shape.length, limit: MAX_DIMS },
    });
  }
  let elements = 1;
  for (const dim of shape) {
    if (!Number.isSafeInteger(dim) || dim < 0) {
      throw new ResnetServeError('INVALID_ARGUMENT', `Input "${name}" has the dim ${dim}; every dim is a non-negative integer.`, {
        details: { input: name, shape: [...shape] },
      });
    }
    // Checked at every step: the product of eight dims can leave the safe integers.
    elements *= dim;
    if (elements > maxElements) {
      throw new ResnetServeError(
        'INVALID_ARGUMENT',
        `Input "${name}" has shape [${shape.join(', ')}], more than the ${maxElements} elements the largest valid request holds.`,
        { details: { input: name, shape: [...shape], limit: maxElements, received: elements } },
      );
    }
  }
  return elements;
}

/** @throws ResnetServeError INVALID_ARGUMENT when `received` (elements, or bytes with `unit`) is not what the shape needs. */
export function expectElements(name: string, shape: readonly number[], expected: number, received: number, unit = 'values'): void {
  if (received !== expected) {
    throw new ResnetServeError(
      'INVALID_ARGUMENT',
      `Input "${name}" has shape [${shape.join(', ')}], ${expected} ${unit}, but ${received} were sent.`,
      { details: { input: name, shape: [...shape], expected, received } },
    );
  }
}
