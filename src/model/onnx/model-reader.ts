import { type ByteSource, fieldsOf, intsOf, type ProtoField, textOf } from './read.js';

/**
 * An ONNX file's small parts, located without reading any tensor's payload: its `metadata_props`, its graph's
 * inputs and outputs with their types and shapes, its nodes, and where each initializer's data lies. What the
 * model contract (contract.ts) and explanations (classifier-head.ts) read a model by; no Node or DOM imports, so
 * the page's worker reads the model it downloaded with it too.
 */
export interface ModelOutline {
  /** ModelProto.metadata_props, in file order. */
  readonly metadata: ReadonlyMap<string, string>;
  /** Graph inputs that are not initializers (IR < 4 lists initializers among the inputs too). */
  readonly inputs: readonly ValueInfo[];
  readonly outputs: readonly ValueInfo[];
  readonly nodes: readonly OutlineNode[];
  readonly initializers: ReadonlyMap<string, OutlineTensor>;
}

export interface ValueInfo {
  readonly name: string;
  /** TensorProto.DataType (1 float32); 0 when it is not a tensor. */
  readonly elemType: number;
  /** A fixed dim_value, a symbolic dim_param, or undefined when the dimension is unknown; undefined for no shape. */
  readonly shape: readonly (number | string | undefined)[] | undefined;
}

export interface OutlineNode {
  readonly opType: string;
  readonly inputs: readonly string[];
  readonly outputs: readonly string[];
  /** The node's INT attributes (e.g. Gemm's transB, DequantizeLinear's axis). */
  readonly ints: ReadonlyMap<string, number>;
}

export interface OutlineTensor {
  readonly dims: readonly number[];
  readonly dataType: number;
  /** Where raw_data lies in the source; undefined when the tensor has none. */
  readonly raw: ProtoField | undefined;
  /** The data is in another file (ONNX external data). */
  readonly external: boolean;
}

/** TensorProto.DataType values resnet-serve reads. */
export const ONNX_TYPE = { float32: 1, uint8: 2, int8: 3, int32: 6 } as const;

// onnx/onnx.proto field numbers.
const MODEL = { graph: 7, metadataProps: 14 } as const;
const ENTRY = { key: 1, value: 2 } as const;
const GRAPH = { node: 1, initializer: 5, input: 11, output: 12 } as const;
const NODE = { input: 1, output: 2, opType: 4, attribute: 5 } as const;
const ATTRIBUTE = { name: 1, i: 3 } as const;
const TENSOR = { dims: 1, dataType: 2, name: 8, rawData: 9, dataLocation: 14 } as const;
const VALUE_INFO = { name: 1, type: 2 } as const;
const TYPE = { tensorType: 1 } as const;
const TYPE_TENSOR = { elemType: 1, shape: 2 } as const;
const SHAPE = { dim: 1 } as const;
const DIMENSION = { dimValue: 1, dimParam: 2 } as const;
const EXTERNAL = 1;

/**
 * Walks an ONNX model's ModelProto and GraphProto, reading only keys, names, shapes and small attributes.
 * @throws Error when the bytes are not a well-formed protobuf (callers word it under their own code).
 */
export async function readModelOutline(source: ByteSource): Promise<ModelOutline> {
  const top = await fieldsOf(source, 0, source.size);
  const metadata = new Map<string, string>();
  for (const field of top.filter((f) => f.no === MODEL.metadataProps)) {
    const entry = await fieldsOf(source, field.start, field.length);
    metadata.set(await textField(source, entry, ENTRY.key), await textField(source, entry, ENTRY.value));
  }
  const graph = top.find((f) => f.no === MODEL.graph);
  const nodes: OutlineNode[] = [];
  const initializers = new Map<string, OutlineTensor>();
  const inputs: ValueInfo[] = [];
  const outputs: ValueInfo[] = [];
  for (const field of graph === undefined ? [] : await fieldsOf(source, graph.start, graph.length)) {
    if (field.no === GRAPH.node) nodes.push(await readNode(source, field));
    else if (field.no === GRAPH.input) inputs.push(await readValueInfo(source, field));
    else if (field.no === GRAPH.output) outputs.push(await readValueInfo(source, field));
    else if (field.no === GRAPH.initializer) {
      const tensor = await fieldsOf(source, field.start, field.length);
      const name = tensor.find((f) => f.no === TENSOR.name);
      if (name === undefined) continue;
      initializers.set(await textOf(source, name), {
        dims: await intsOf(source, tensor, TENSOR.dims),
        dataType: tensor.find((f) => f.no === TENSOR.dataType)?.value ?? 0,
        raw: tensor.find((f) => f.no === TENSOR.rawData),
        external: (tensor.find((f) => f.no === TENSOR.dataLocation)?.value ?? 0) === EXTERNAL,
      });
    }
  }
  return { metadata, inputs: inputs.filter((input) => !initializers.has(input.name)), outputs, nodes, initializers };
}

async function textField(source: ByteSource, fields: readonly ProtoField[], no: number): Promise<string> {
  const field = fields.find((f) => f.no === no);
  return field === undefined ? '' : textOf(source, field);
}

async function readNode(source: ByteSource, field: ProtoField): Promise<OutlineNode> {
  const inputs: string[] = [];
  const outputs: string[] = [];
  const ints = new Map<string, number>();
  let opType = '';
  for (const f of await fieldsOf(source, field.start, field.length)) {
    if (f.no === NODE.input) inputs.push(await textOf(source, f));
    else if (f.no === NODE.output) outputs.push(await textOf(source, f));
    else if (f.no === NODE.opType) opType = await textOf(source, f);
    else if (f.no === NODE.attribute) {
      const attribute = await fieldsOf(source, f.start, f.length);
      const i = attribute.find((a) => a.no === ATTRIBUTE.i);
      if (i !== undefined) ints.set(await textField(source, attribute, ATTRIBUTE.name), i.value);
    }
  }
  return { opType, inputs, outputs, ints };
}

async function readValueInfo(source: ByteSource, field: ProtoField): Promise<ValueInfo> {
  const info = await fieldsOf(source, field.start, field.length);
  const name = await textField(source, info, VALUE_INFO.name);
  const type = info.find((f) => f.no === VALUE_INFO.type);
  const tensorType =
    type === undefined ? undefined : (await fieldsOf(source, type.start, type.length)).find((f) => f.no === TYPE.tensorType);
  if (tensorType === undefined) return { name, elemType: 0, shape: undefined };
  const tensor = await fieldsOf(source, tensorType.start, tensorType.length);
  const shapeField = tensor.find((f) => f.no === TYPE_TENSOR.shape);
  let shape: (number | string | undefined)[] | undefined;
  if (shapeField !== undefined) {
    shape = [];
    for (const dim of (await fieldsOf(source, shapeField.start, shapeField.length)).filter((f) => f.no === SHAPE.dim)) {
      const parts = await fieldsOf(source, dim.start, dim.length);
      const value = parts.find((p) => p.no === DIMENSION.dimValue);
      const param = parts.find((p) => p.no === DIMENSION.dimParam);
      shape.push(value !== undefined ? value.value : param !== undefined ? await textOf(source, param) : undefined);
    }
  }
  return { name, elemType: tensor.find((f) => f.no === TYPE_TENSOR.elemType)?.value ?? 0, shape };
}
