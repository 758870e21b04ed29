import { messageOf } from '../errors.js';
import { FEATURES_NAME } from './features.js';
import { type ModelOutline, ONNX_TYPE, type OutlineNode, type OutlineTensor, readModelOutline } from './onnx/model-reader.js';
import { type ByteSource, bytesSource } from './onnx/read.js';

/**
 * The classifier's last layer, `logits = W · avgpool(A) + b`, as class activation maps need it: `weight` is W,
 * row-major [classes, channels] (torchvision `fc.weight`), and A is the `features` output, `grid × grid` cells.
 */
export interface ClassifierHead {
  readonly classes: number;
  readonly channels: number;
  /** Side of the `features` map (7 for a ResNet at 224 px: its stride is 32). */
  readonly grid: number;
  readonly weight: Float32Array;
}

/** What explanations need from a model, or why it cannot give them. */
export type HeadLookup = { readonly head: ClassifierHead } | { readonly unavailable: string };

/**
 * Reads the fc weights a class activation map needs from an ONNX model: the Gemm that produces the logits output,
 * its B input either a float initializer (fp32, as the architectures write it) or an int8/uint8 initializer behind a
 * DequantizeLinear (int8 QDQ, as quantize/graph.ts writes it; dequantised here exactly as ORT's QGemm sees it).
 * The model must also have the `features` output [N, channels, g, g].
 *
 * Only the graph's small fields and fc's own tensors are read: a file is not loaded whole. No Node or DOM imports:
 * the page's on-device worker reads the head of the model it downloaded with it.
 * @param model - the bytes of an `.onnx` file, or a source over them (`fileSource(path)` in Node), closed here.
 * @returns `{ head }`, or `{ unavailable }` saying why this model cannot be explained.
 */
export async function readClassifierHead(model: ByteSource | Uint8Array): Promise<HeadLookup> {
  const source = model instanceof Uint8Array ? bytesSource(model) : model;
  try {
    return await lookup(source, await readModelOutline(source));
  } catch (cause) {
    return { unavailable: `its ONNX file could not be read (${messageOf(cause)})` };
  } finally {
    await source.close();
  }
}

async function lookup(source: ByteSource, outline: ModelOutline): Promise<HeadLookup> {
  const features = outline.outputs.find((output) => output.name === FEATURES_NAME);
  if (features === undefined) return { unavailable: `it has no output named ${FEATURES_NAME}` };
  const [, , height, width] = features.shape ?? [];
  if (features.shape?.length !== 4 || typeof height !== 'number' || height < 1 || height !== width) {
    return { unavailable: `its ${FEATURES_NAME} output is not a square map [N, channels, g, g]` };
  }
  const logits = outline.outputs.find((output) => output.name !== FEATURES_NAME)?.name;
  const gemm = outline.nodes.find((n) => n.outputs[0] === logits);
  if (gemm?.opType !== 'Gemm') return { unavailable: `its ${logits ?? 'logits'} output is not made by a Gemm (fully connected) node` };
  const transB = gemm.ints.get('transB') ?? 0;
  const b = await floatTensor(source, gemm.inputs[1] ?? '', outline.nodes, outline.initializers);
  if (typeof b === 'string') return { unavailable: b };
  const [rows = 0, cols = 0] = b.dims;
  // Gemm computes A · op(B): with transB the weight is [classes, channels] (torchvision's layout), else transposed.
  const head =
    transB === 1
      ? { classes: rows, channels: cols, grid: height, weight: b.data }
      : { classes: cols, channels: rows, grid: height, weight: transpose(b.data, rows, cols) };
  return { head };
}

/** A 2-D float tensor: an initializer, or a DequantizeLinear of initializers. A string says why not. */
async function floatTensor(
  source: ByteSource,
  name: string,
  nodes: readonly OutlineNode[],
  initializers: ReadonlyMap<string, OutlineTensor>,
): Promise<{ dims: readonly number[]; data: Float32Array } | string> {
  const direct = initializers.get(name);
  if (direct !== undefined) {
    if (direct.dataType !== ONNX_TYPE.float32 || direct.dims.length !== 2) return `its fc weight ${name} is not a 2-D float tensor`;
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
async function tensorData(source: ByteSource, tensor: OutlineTensor): Promise<Float32Array | Int8Array | Uint8Array | Int32Array | string> {
  if (tensor.external) return 'is stored outside the .onnx file (external data)';
  if (tensor.raw === undefined) return 'has no raw_data';
  // A copy: the source's bytes may be a reused read window, and typed arrays need aligned offsets.
  const bytes = (await source.read(tensor.raw.start, tensor.raw.length)).slice();
  switch (tensor.dataType) {
    case ONNX_TYPE.float32:
      return new Float32Array(bytes.buffer, 0, bytes.length / 4);
    case ONNX_TYPE.int8:
      return new Int8Array(bytes.buffer);
    case ONNX_TYPE.uint8:
      return bytes;
    case ONNX_TYPE.int32:
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
