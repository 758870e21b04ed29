export type DType = 'float32' | 'float16' | 'bfloat16' | 'float64' | 'int64' | 'int32' | 'uint8' | 'int8' | 'bool';

/** One tensor of a checkpoint, contiguous, row-major, already converted to a JS typed array. */
export interface TensorData {
  readonly dtype: DType;
  readonly shape: readonly number[];
  /** float16/bfloat16/float64 are widened to Float32Array; integers keep their width. */
  readonly data: Float32Array | BigInt64Array | Int32Array | Uint8Array | Int8Array;
}

/** A PyTorch `state_dict`: parameter and buffer names in insertion order. */
export type StateDict = Map<string, TensorData>;
