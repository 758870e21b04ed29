import { ResnetServeError } from '../../errors.js';
import { ONNX_DATA_TYPES, type OnnxAttribute, type OnnxGraph, type OnnxNode, type OnnxTensor, type OnnxValueInfo } from './graph.js';

/** IR version 8 is the one onnx 1.12 pairs with opset 17 (onnx/helper.py VERSION_TABLE). */
export const ONNX_IR_VERSION = 8;
export const ONNX_OPSET = 17;
export const ONNX_PRODUCER_NAME = 'resnet-serve';

// Field numbers from onnx/onnx.proto (onnx 1.23, proto2 syntax; repeated scalars are therefore written unpacked).
const MODEL = { irVersion: 1, producerName: 2, graph: 7, opsetImport: 8, metadataProps: 14 } as const;
const STRING_STRING_ENTRY = { key: 1, value: 2 } as const;
const OPSET_ID = { version: 2 } as const;
const GRAPH = { node: 1, name: 2, initializer: 5, input: 11, output: 12 } as const;
const NODE = { input: 1, output: 2, name: 3, opType: 4, attribute: 5 } as const;
const ATTRIBUTE = { name: 1, f: 2, i: 3, s: 4, ints: 8, type: 20 } as const;
const ATTRIBUTE_TYPE = { float: 1, int: 2, string: 3, ints: 7 } as const;
const TENSOR = { dims: 1, dataType: 2, name: 8, rawData: 9 } as const;
const VALUE_INFO = { name: 1, type: 2 } as const;
const TYPE = { tensorType: 1 } as const;
const TYPE_TENSOR = { elemType: 1, shape: 2 } as const;
const SHAPE = { dim: 1 } as const;
const DIMENSION = { dimValue: 1, dimParam: 2 } as const;

const WIRE_VARINT = 0;
const WIRE_LENGTH_DELIMITED = 2;
const WIRE_FIXED32 = 5;

type Field =
  | { readonly kind: 'varint'; readonly no: number; readonly value: number }
  | { readonly kind: 'float'; readonly no: number; readonly value: number }
  | { readonly kind: 'bytes'; readonly no: number; readonly value: Uint8Array }
  | { readonly kind: 'message'; readonly no: number; readonly value: ProtoMessage };

/**
 * A protobuf message as a list of fields whose encoded size is computed once, so the whole model is written
 * into one exactly-sized buffer: each tensor's bytes are copied once, straight from its typed array.
 */
class ProtoMessage {
  readonly #fields: Field[] = [];
  #size = -1;

  varint(no: number, value: number): this {
    if (!Number.isSafeInteger(value)) throw internal(`field ${no} needs an integer but got ${value}`);
    this.#fields.push({ kind: 'varint', no, value });
    return this;
  }

  float(no: number, value: number): this {
    this.#fields.push({ kind: 'float', no, value });
    return this;
  }

  bytes(no: number, value: Uint8Array): this {
    this.#fields.push({ kind: 'bytes', no, value });
    return this;
  }

  string(no: number, value: string): this {
    return this.bytes(no, UTF8.encode(value));
  }

  message(no: number, value: ProtoMessage): this {
    this.#fields.push({ kind: 'message', no, value });
    return this;
  }

  get size(): number {
    if (this.#size < 0) this.#size = this.#fields.reduce((total, field) => total + fieldSize(field), 0);
    return this.#size;
  }

  writeTo(writer: ProtoWriter): void {
    for (const field of this.#fields) {
      switch (field.kind) {
        case 'varint':
          writer.tag(field.no, WIRE_VARINT);
          writer.varint(field.value);
          break;
        case 'float':
          writer.tag(field.no, WIRE_FIXED32);
          writer.float32(field.value);
          break;
        case 'bytes':
          writer.tag(field.no, WIRE_LENGTH_DELIMITED);
          writer.varint(field.value.byteLength);
          writer.raw(field.value);
          break;
        case 'message':
          writer.tag(field.no, WIRE_LENGTH_DELIMITED);
          writer.varint(field.value.size);
          field.value.writeTo(writer);
          break;
      }
    }
  }
}

class ProtoWriter {
  readonly bytes: Uint8Array;
  readonly #view: DataView;
  #pos = 0;

  constructor(size: number) {
    this.bytes = new Uint8Array(size);
    this.#view = new DataView(this.bytes.buffer);
  }

  get position(): number {
    return this.#pos;
  }

  tag(no: number, wire: number): void {
    this.varint(no * 8 + wire);
  }

  varint(value: number): void {
    if (value < 0) {
      // int64 fields store negatives as 10-byte two's complement (protobuf encoding guide, "Signed Integers").
      let big = BigInt.asUintN(64, BigInt(value));
      while (big >= 0x80n) {
        this.bytes[this.#pos++] = Number(big & 0x7fn) | 0x80;
        big >>= 7n;
      }
      this.bytes[this.#pos++] = Number(big);
      return;
    }
    let rest = value;
    while (rest >= 0x80) {
      this.bytes[this.#pos++] = (rest % 0x80) | 0x80;
      rest = Math.floor(rest / 0x80);
    }
    this.bytes[this.#pos++] = rest;
  }

  float32(value: number): void {
    this.#view.setFloat32(this.#pos, value, true);
    this.#pos += 4;
  }

  raw(value: Uint8Array): void {
    this.bytes.set(value, this.#pos);
    this.#pos += value.byteLength;
  }
}

const UTF8 = new TextEncoder();

function varintSize(value: number): number {
  if (value < 0) return 10;
  let size = 1;
  for (let rest = value; rest >= 0x80; rest = Math.floor(rest / 0x80)) size++;
  return size;
}

function fieldSize(field: Field): number {
  const tag = varintSize(field.no * 8);
  switch (field.kind) {
    case 'varint':
      return tag + varintSize(field.value);
    case 'float':
      return tag + 4;
    case 'bytes':
      return tag + varintSize(field.value.byteLength) + field.value.byteLength;
    case 'message':
      return tag + varintSize(field.value.size) + field.value.size;
  }
}

function internal(why: string): ResnetServeError {
  return new ResnetServeError('INTERNAL', `Cannot encode the ONNX model: ${why}.`);
}

function tensorMessage(name: string, tensor: OnnxTensor): ProtoMessage {
  const count = tensor.dims.reduce((a, b) => a * b, 1);
  if (tensor.data.length !== count) {
    throw internal(`initializer ${JSON.stringify(name)} has ${tensor.data.length} elements but dims [${tensor.dims.join(', ')}]`);
  }
  const message = new ProtoMessage();
  for (const dim of tensor.dims) message.varint(TENSOR.dims, dim);
  message.varint(TENSOR.dataType, ONNX_DATA_TYPES[tensor.dtype]).string(TENSOR.name, name);
  // raw_data is little-endian; typed arrays use the platform order, which is little-endian on every platform
  // onnxruntime-node ships for (x64, arm64). A view, not a copy: the bytes are copied once, into the output.
  return message.bytes(TENSOR.rawData, new Uint8Array(tensor.data.buffer, tensor.data.byteOffset, tensor.data.byteLength));
}

function valueInfoMessage(info: OnnxValueInfo): ProtoMessage {
  const shape = new ProtoMessage();
  for (const dim of info.shape) {
    const dimension =
      typeof dim === 'number' ? new ProtoMessage().varint(DIMENSION.dimValue, dim) : new ProtoMessage().string(DIMENSION.dimParam, dim);
    shape.message(SHAPE.dim, dimension);
  }
  const tensorType = new ProtoMessage().varint(TYPE_TENSOR.elemType, ONNX_DATA_TYPES[info.elemType]).message(TYPE_TENSOR.shape, shape);
  return new ProtoMessage()
    .string(VALUE_INFO.name, info.name)
    .message(VALUE_INFO.type, new ProtoMessage().message(TYPE.tensorType, tensorType));
}

function attributeMessage(name: string, attribute: OnnxAttribute): ProtoMessage {
  const message = new ProtoMessage().string(ATTRIBUTE.name, name).varint(ATTRIBUTE.type, ATTRIBUTE_TYPE[attribute.type]);
  switch (attribute.type) {
    case 'int':
      return message.varint(ATTRIBUTE.i, attribute.value);
    case 'ints':
      for (const value of attribute.value) message.varint(ATTRIBUTE.ints, value);
      return message;
    case 'float':
      return message.float(ATTRIBUTE.f, attribute.value);
    case 'string':
      return message.string(ATTRIBUTE.s, attribute.value);
  }
}

function nodeMessage(node: OnnxNode): ProtoMessage {
  const message = new ProtoMessage();
  for (const input of node.inputs) message.string(NODE.input, input);
  for (const output of node.outputs) message.string(NODE.output, output);
  message.string(NODE.name, node.name).string(NODE.opType, node.opType);
  for (const [name, attribute] of Object.entries(node.attributes)) message.message(NODE.attribute, attributeMessage(name, attribute));
  return message;
}

/**
 * Serialises a graph as an ONNX ModelProto (IR version 8, default-domain opset 17, producer 'resnet-serve').
 * The result is one buffer of exactly the encoded size; initializer data is copied into it once, never
 * staged, so peak memory is the graph plus the output (about 2 × 46 MB for ResNet-18).
 *
 * @param graph - nodes in topological order; every initializer's data length must match its dims.
 * @param metadata - the ModelProto's `metadata_props`, in this order (resnet-serve writes the model contract
 *   there, model/contract.ts). Default none.
 * @returns the `.onnx` file bytes, accepted by `InferenceSession.create(bytes)`.
 * @throws ResnetServeError INTERNAL when an initializer's length disagrees with its dims or an INT is not an integer.
 */
export function encodeModel(graph: OnnxGraph, metadata: Readonly<Record<string, string>> = {}): Uint8Array {
  const graphMessage = new ProtoMessage();
  for (const node of graph.nodes) graphMessage.message(GRAPH.node, nodeMessage(node));
  graphMessage.string(GRAPH.name, graph.name);
  for (const [name, tensor] of graph.initializers) graphMessage.message(GRAPH.initializer, tensorMessage(name, tensor));
  for (const input of graph.inputs) graphMessage.message(GRAPH.input, valueInfoMessage(input));
  for (const output of graph.outputs) graphMessage.message(GRAPH.output, valueInfoMessage(output));

  const model = new ProtoMessage()
    .varint(MODEL.irVersion, ONNX_IR_VERSION)
    .string(MODEL.producerName, ONNX_PRODUCER_NAME)
    .message(MODEL.graph, graphMessage)
    .message(MODEL.opsetImport, new ProtoMessage().varint(OPSET_ID.version, ONNX_OPSET));
  for (const [key, value] of Object.entries(metadata)) {
    model.message(MODEL.metadataProps, new ProtoMessage().string(STRING_STRING_ENTRY.key, key).string(STRING_STRING_ENTRY.value, value));
  }

  const writer = new ProtoWriter(model.size);
  model.writeTo(writer);
  if (writer.position !== model.size) throw internal(`wrote ${writer.position} bytes but sized ${model.size}`);
  return writer.bytes;
}
