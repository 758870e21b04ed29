/**
 * A tiny in-memory form of an ONNX graph. Builders (resnet.ts) produce it, rewriters (e.g. quantisation) may
 * edit it, and `encodeModel` (proto.ts) serialises it. Only what resnet-serve needs is modelled.
 */

/** Element types we write; the numbers are `TensorProto.DataType` in onnx/onnx.proto. */
export const ONNX_DATA_TYPES = Object.freeze({ float32: 1, uint8: 2, int8: 3, int32: 6, int64: 7 } as const);

export type OnnxElemType = keyof typeof ONNX_DATA_TYPES;

/** A constant tensor (initializer). `data` is row-major and holds exactly `product(dims)` elements. */
export type OnnxTensor =
  | { readonly dtype: 'float32'; readonly dims: readonly number[]; readonly data: Float32Array }
  | { readonly dtype: 'uint8'; readonly dims: readonly number[]; readonly data: Uint8Array }
  | { readonly dtype: 'int8'; readonly dims: readonly number[]; readonly data: Int8Array }
  | { readonly dtype: 'int32'; readonly dims: readonly number[]; readonly data: Int32Array }
  | { readonly dtype: 'int64'; readonly dims: readonly number[]; readonly data: BigInt64Array };

/** A graph input or output. A number is a fixed `dim_value`; a string is a symbolic `dim_param` such as 'N'. */
export interface OnnxValueInfo {
  readonly name: string;
  readonly elemType: OnnxElemType;
  readonly shape: readonly (number | string)[];
}

/** Node attribute; tagged because an ONNX INT and FLOAT are both a JS number. */
export type OnnxAttribute =
  | { readonly type: 'int'; readonly value: number }
  | { readonly type: 'ints'; readonly value: readonly number[] }
  | { readonly type: 'float'; readonly value: number }
  | { readonly type: 'string'; readonly value: string };

export interface OnnxNode {
  /** Operator in the default ai.onnx domain, e.g. 'Conv'. */
  readonly opType: string;
  readonly inputs: readonly string[];
  readonly outputs: readonly string[];
  /** Unique node name; resnet.ts uses the torchvision module path so rewriters can find layers. */
  readonly name: string;
  readonly attributes: Readonly<Record<string, OnnxAttribute>>;
}

export interface OnnxGraph {
  readonly name: string;
  readonly inputs: readonly OnnxValueInfo[];
  readonly outputs: readonly OnnxValueInfo[];
  /** Insertion order is the order written to the file. */
  readonly initializers: Map<string, OnnxTensor>;
  /** Topologically sorted, as ONNX requires. */
  readonly nodes: OnnxNode[];
}

/** Attribute constructors, so call sites read `ints([3, 3])` rather than object literals. */
export const attr = Object.freeze({
  int: (value: number): OnnxAttribute => ({ type: 'int', value }),
  ints: (value: readonly number[]): OnnxAttribute => ({ type: 'ints', value }),
  float: (value: number): OnnxAttribute => ({ type: 'float', value }),
  string: (value: string): OnnxAttribute => ({ type: 'string', value }),
});
