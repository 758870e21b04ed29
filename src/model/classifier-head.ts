import { messageOf } from '../errors.js';
import { FEATURES_NAME } from './features.js';
import { type ByteSource, bytesSource, fieldsOf, intsOf, type ProtoField, textOf } from './onnx/read.js';

/**
 * The classifier's last layer, `logits = W · avgpool(A) + b`, as class activation maps need it: `weight` is W,
 * row-major [classes, channels] (torchvision `fc.weight`).
 */
export interface ClassifierHead {
  readonly classes: number;
  readonly channels: number;
  readonly weight: Float32Array;
}

/** What explanations need from a model, or why it cannot give them. */
export type HeadLookup = { readonly head: ClassifierHead } | { readonly unavailable: string };

// onnx/onnx.proto field numbers.
const MODEL_GRAPH = 7;
const GRAPH = { node: 1, initializer: 5, output: 12 } as const;
const NODE = { input: 1, output: 2, opType: 4, attribute: 5 } as const;
const ATTRIBUTE = { name: 1, i: 3 } as const;
const TENSOR = { dims: 1, dataType: 2, name: 8, rawData: 9, dataLocation: 14 } as const;
const VALUE_INFO_NAME = 1;
/** TensorProto.DataType. */
const DATA_TYPE = { float32: 1, uint8: 2, int8: 3, int32: 6 } as const;

interface Node {
  opType: string;
  inputs: string[];
  outputs: string[];
  ints: Map<string, number>;
}

interface Initializer {
  dims: number[];
  dataType: number;
  raw: ProtoField | undefined;
  external: boolean;
}

/**
 * Reads the fc weights a class activation map needs from an ONNX model: the Gemm that produces the logits output,
 * its B input either a float initializer (fp32, as resnet.ts writes it) or an int8/uint8 initializer behind a
 * DequantizeLinear (int8 QDQ, as quantize-graph.ts writes it; dequantised here exactly as ORT's QGemm sees it).
 * The model must also have the `features` output.
 *
 * Only the graph's small fields and fc's own tensors are read: a file is not loaded whole. No Node or DOM imports:
 * the page's on-device worker reads the head of the model it downloaded with it.
 * @param model - the bytes of an `.onnx` file, or a source over them (`fileSource(path)` in Node), closed here.
 * @returns `{ head }`, or `{ unavailable }` saying why this model cannot be explained.
 */
export async function readClassifierHead(model: ByteSource | Uint8Array): Promise<HeadLookup> {
  const source = model instanceof Uint8Array ? bytesSource(model) : model;
  try {
    return await lookup(source);
  } catch (cause) {
    return { unavailable: `its ONNX file could not be read (${messageOf(cause)})` };
  } finally {
    await source.close();
  }
}

async function lookup(source: ByteSource): Promise<HeadLookup> {
  const graph = (await fieldsOf(source, 0, source.size)).find((f) => f.no === MODEL_GRAPH);
  if (graph === undefined) return { unavailable: 'it has no graph' };
  const nodes: Node[] = [];
  const initializers = new Map<string, Initializer>();
  const outputs: string[] = [];
  for (const field of await fieldsOf(source, graph.start, graph.length)) {
    if (field.no === GRAPH.node) nodes.push(await readNode(source, field));
    else if (field.no === GRAPH.output) outputs.push(await nameOf(source, field, VALUE_INFO_NAME));
    else if (field.no === GRAPH.initializer) {
      const tensor = await fieldsOf(source, field.start, field.length);
      const name = tensor.find((f) => f.no === TENSOR.name);
      if (name === undefined) continue;
      initializers.set(await textOf(source, name), {
        dims: await intsOf(source, tensor, TENSOR.dims),
        dataType: tensor.find((f) => f.no === TENSOR.dataType)?.value ?? 0,
        raw: tensor.find((f) => f.no === TENSOR.rawData),
        external: (tensor.find((f) => f.no === TENSOR.dataLocation)?.value ?? 0) === 1,
      });
    }
  }
  if (!outputs.includes(FEATURES_NAME)) return { unavailable: `it has no output named ${FEATURES_NAME}` };
  const logits = outputs.find((name) => name !== FEATURES_NAME);
  const gemm = nodes.find((n) => n.outputs[0] === logits);
  if (gemm?.opType !== 'Gemm') return { unavailable: `its ${logits ?? 'logits'} output is not made by a Gemm (fully connected) node` };
  const transB = gemm.ints.get('transB') ?? 0;
  const b = await floatTensor(source, gemm.inputs[1] ?? '', nodes, initializers);
  if (typeof b === 'string') return { unavailable: b };
  const [rows = 0, cols = 0] = b.dims;
  // Gemm computes A · op(B): with transB the weight is [classes, channels] (torchvision's layout), else transposed.
  const head =
    transB === 1
      ? { classes: rows, channels: cols, weight: b.data }
      : { classes: cols, channels: rows, weight: transpose(b.data, rows, cols) };
  return { head };
}

async function readNode(source: ByteSource, field: ProtoField): Promise<Node> {
  const node: Node = { opType: '', inputs: [], outputs: [], ints: new Map() };
  for (const f of await fieldsOf(source, field.start, field.length)) {
    if (f.no === NODE.input) node.inputs.push(await textOf(source, f));
    else if (f.no === NODE.output) node.outputs.push(await textOf(source, f));
    else if (f.no === NODE.opType) node.opType = await textOf(source, f);
    else if (f.no === NODE.attribute) {
      const attribute = await fieldsOf(source, f.start, f.length);
      const name = attribute.find((a) => a.no === ATTRIBUTE.name);
      const i = attribute.find((a) => a.no === ATTRIBUTE.i);
      if (name !== undefined && i !== undefined) node.ints.set(await textOf(source, name), i.value);
    }
  }
  return node;
}

async function nameOf(source: ByteSource, field: ProtoField, no: number): Promise<string> {
  const name = (await fieldsOf(source, field.start, field.length)).find((f) => f.no === no);
  return name === undefined ? '' : textOf(source, name);
}

/** A 2-D float tensor: an initializer, or a DequantizeLinear of initializers. A string says why not. */
async function floatTensor(
  source: ByteSource,
  name: string,
  nodes: readonly Node[],
  initializers: ReadonlyMap<string, Initializer>,
): Promise<{ dims: number[]; data: Float32Array } | string> {
  const direct = initializers.get(name);
  if (direct !== undefined) {
    if (direct.dataType !== DATA_TYPE.float32 || direct.dims.length !== 2) return `its fc weight ${name} is not a 2-D float tensor`;
    const data = await tensorData(source, direct);
    return data instanceof Float32Array ? { dims: direct.dims, data } : `its fc weight ${name} ${data}`;
  }
  const dq = nodes.find((n) => n.outputs[0] === name);
  const [qName = '', scaleName = '', zeroName] = dq?.inputs ?? [];
  const q = initializers.get(qName);
  const scale = initializers.get(scaleName);
  const zero = zeroName === undefined ? undefined : initializers.get(zeroName);
  if (dq?.opType !== 'DequantizeLinear' || q === undefined || scale === undefined || q.dims.length !== 2) {
    return `its fc weight ${name} is neither a float initializer nor a DequantizeLinear of one`;
  }
  const [qData, scales, zeros] = await Promise.all([
    tensorData(source, q),
    tensorData(source, scale),
    zero === undefined ? undefined : tensorData(source, zero),
  ]);
  if (typeof qData === 'string' || !(scales instanceof Float32Array) || typeof zeros === 'string')
    return `its quantised fc weight ${qName} cannot be read`;
  // DequantizeLinear: y = (x − zero_point) · scale, per tensor or per slice along `axis` (default 1).
  const axis = scale.dims.length === 0 ? -1 : (dq.ints.get('axis') ?? 1);
  const [rows = 0, cols = 0] = q.dims;
  const data = new Float32Array(rows * cols);
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) {
      const slice = axis === 0 ? r : axis === 1 ? c : 0;
      const zp = zeros === undefined ? 0 : (zeros[slice] as number);
      data[r * cols + c] = ((qData[r * cols + c] as number) - zp) * (scales[slice] as number);
    }
  }
  return { dims: q.dims, data };
}

/** An initializer's values from its raw_data (what every exporter writes for large tensors). A string says why not. */
async function tensorData(source: ByteSource, tensor: Initializer): Promise<Float32Array | Int8Array | Uint8Array | Int32Array | string> {
  if (tensor.external) return 'is stored outside the .onnx file (external data)';
  if (tensor.raw === undefined) return 'has no raw_data';
  // A copy: the source's bytes may be a reused read window, and typed arrays need aligned offsets.
  const bytes = (await source.read(tensor.raw.start, tensor.raw.length)).slice();
  switch (tensor.dataType) {
    case DATA_TYPE.float32:
      return new Float32Array(bytes.buffer, 0, bytes.length / 4);
    case DATA_TYPE.int8:
      return new Int8Array(bytes.buffer);
    case DATA_TYPE.uint8:
      return bytes;
    case DATA_TYPE.int32:
      return new Int32Array(bytes.buffer, 0, bytes.length / 4);
    default:
      return `has data type ${tensor.dataType}`;
  }
}

function transpose(data: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(data.length);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c * rows + r] = data[r * cols + c] as number;
  return out;
}
