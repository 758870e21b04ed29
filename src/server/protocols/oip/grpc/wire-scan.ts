import { ResnetServeError } from '../../../../errors.js';
import { checkShape, DATATYPE_BYTES, expectElements, MAX_DIMS, maxElementsOf, type TensorLimits } from '../tensor-shape.js';

/**
 * A pass over a ModelInferRequest's protobuf bytes (protobuf.dev/programming-guides/encoding) that counts
 * what the decoder would build, before it builds anything: protobufjs materialises every repeated field as a
 * JS array, so 80 MB of one-byte varints in `shape` become 80 M numbers and fill the heap (issue 19). The pass
 * allocates nothing per element: it reads at most {@link MAX_DIMS} + 1 dims, counts packed elements from their
 * byte lengths, and refuses before the decoder runs.
 *
 * It reads the fields as protobufjs reads them (by field number), and refuses a known field sent with a wire
 * type protobufjs would misread, so that what was counted is what gets decoded.
 */

export interface WireLimits extends TensorLimits {
  /** Most `inputs`, `outputs` and `raw_input_contents` entries in one request. */
  readonly maxTensors: number;
  /** Most entries in one `parameters` map. */
  readonly maxParameters: number;
}

enum WireType {
  Varint = 0,
  Fixed64 = 1,
  Delimited = 2,
  Fixed32 = 5,
}

// Field numbers of proto/open_inference_grpc.proto.
const REQUEST = { parameters: 4, inputs: 5, outputs: 6, rawInputContents: 7 } as const;
const INPUT = { name: 1, datatype: 2, shape: 3, parameters: 4, contents: 5 } as const;
const OUTPUT_PARAMETERS = 2;
const STRING_FIELDS = new Set([1, 2, 3]);

/** InferTensorContents' fields by number: the datatypes each carries and the wire type of one element. */
const CONTENTS: Readonly<Record<number, { datatypes: readonly string[]; element: WireType }>> = {
  1: { datatypes: ['BOOL'], element: WireType.Varint },
  2: { datatypes: ['INT8', 'INT16', 'INT32'], element: WireType.Varint },
  3: { datatypes: ['INT64'], element: WireType.Varint },
  4: { datatypes: ['UINT8', 'UINT16', 'UINT32'], element: WireType.Varint },
  5: { datatypes: ['UINT64'], element: WireType.Varint },
  6: { datatypes: ['FP32'], element: WireType.Fixed32 },
  7: { datatypes: ['FP64'], element: WireType.Fixed64 },
  8: { datatypes: ['BYTES'], element: WireType.Delimited },
};

/** What one input will decode to, counted. */
interface InputSummary {
  name: string;
  datatype: string;
  shape: number[];
  /** Elements across every `*_contents` field. */
  contents: number;
}

/**
 * @throws ResnetServeError INVALID_ARGUMENT: bytes that are not a ModelInferRequest, more than the limits' tensors
 *   or parameters, a shape over {@link MAX_DIMS} dims or over the element limit, a negative dim, contents of another
 *   datatype or count than the shape, raw contents of another size than shape × the datatype's bytes.
 */
export function scanModelInferRequest(bytes: Uint8Array, limits: WireLimits): void {
  const reader = new WireReader(bytes, 0, bytes.length);
  const inputs: InputSummary[] = [];
  const raw: number[] = [];
  let outputs = 0;
  let parameters = 0;
  while (!reader.done()) {
    const { field, type } = reader.tag();
    if (field === REQUEST.inputs) {
      countAtMost(inputs.length + 1, limits.maxTensors, 'inputs');
      inputs.push(scanInput(reader.message(type, 'inputs'), limits));
    } else if (field === REQUEST.outputs) {
      countAtMost(++outputs, limits.maxTensors, 'outputs');
      scanOutput(reader.message(type, 'outputs'), limits);
    } else if (field === REQUEST.rawInputContents) {
      countAtMost(raw.length + 1, limits.maxTensors, 'raw_input_contents');
      raw.push(reader.message(type, 'raw_input_contents').remaining());
    } else if (field === REQUEST.parameters) {
      countAtMost(++parameters, limits.maxParameters, 'parameters');
      reader.message(type, 'parameters');
    } else if (STRING_FIELDS.has(field)) {
      reader.message(type, 'model_name, model_version and id');
    } else {
      reader.skip(type);
    }
  }
  for (const input of inputs) checkInput(input, limits);
  if (raw.length > 0) checkRaw(inputs, raw);
}

function scanInput(reader: WireReader, limits: WireLimits): InputSummary {
  const summary: InputSummary = { name: '', datatype: '', shape: [], contents: 0 };
  let parameters = 0;
  const contentFields = new Set<number>();
  while (!reader.done()) {
    const { field, type } = reader.tag();
    if (field === INPUT.name) summary.name = reader.message(type, 'an input name').text();
    else if (field === INPUT.datatype) summary.datatype = reader.message(type, 'an input datatype').text();
    else if (field === INPUT.shape) readDims(reader, type, summary);
    else if (field === INPUT.parameters) {
      countAtMost(++parameters, limits.maxParameters, 'the parameters of an input');
      reader.message(type, 'parameters');
    } else if (field === INPUT.contents) summary.contents += scanContents(reader.message(type, 'contents'), contentFields);
    else reader.skip(type);
  }
  for (const field of contentFields) {
    const carries = CONTENTS[field]?.datatypes ?? [];
    if (!carries.includes(summary.datatype)) {
      throw new ResnetServeError(
        'INVALID_ARGUMENT',
        `Input "${summary.name}" of datatype ${JSON.stringify(summary.datatype)} has contents of datatype ${carries.join('/')}.`,
        { details: { input: summary.name, datatype: summary.datatype } },
      );
    }
  }
  return summary;
}

/** Reads `shape` as int64 dims, packed or not, refusing the ninth dim before reading further. */
function readDims(reader: WireReader, type: WireType, summary: InputSummary): void {
  const push = (dim: number): void => {
    if (summary.shape.length === MAX_DIMS) {
      throw new ResnetServeError('INVALID_ARGUMENT', `Input "${summary.name}" has more than ${MAX_DIMS} dims.`, {
        details: { input: summary.name, limit: MAX_DIMS },
      });
    }
    summary.shape.push(dim);
  };
  if (type === WireType.Varint) {
    push(reader.int64());
    return;
  }
  const packed = reader.message(type, 'shape');
  while (!packed.done()) push(packed.int64());
}

function scanContents(reader: WireReader, fields: Set<number>): number {
  let elements = 0;
  while (!reader.done()) {
    const { field, type } = reader.tag();
    const kind = CONTENTS[field];
    if (kind === undefined) {
      reader.skip(type);
      continue;
    }
    fields.add(field);
    if (type === kind.element) {
      reader.skip(type);
      elements += 1;
    } else if (type === WireType.Delimited) {
      elements += reader.message(type, 'contents').packedCount(kind.element);
    } else {
      throw malformed(`a contents field has wire type ${type}`);
    }
  }
  return elements;
}

function scanOutput(reader: WireReader, limits: WireLimits): void {
  let parameters = 0;
  while (!reader.done()) {
    const { field, type } = reader.tag();
    if (field === OUTPUT_PARAMETERS) {
      countAtMost(++parameters, limits.maxParameters, 'the parameters of an output');
      reader.message(type, 'parameters');
    } else if (field === 1) {
      reader.message(type, 'an output name');
    } else {
      reader.skip(type);
    }
  }
}

function checkInput(input: InputSummary, limits: WireLimits): void {
  const { elements } = checkShape(input.name, input.shape, maxElementsOf(input.datatype, limits));
  if (input.contents > 0) expectElements(input.name, input.shape, elements, input.contents);
}

/** `raw_input_contents` holds every input's data, in order (inference_grpc.md, "Tensor Data"). */
function checkRaw(inputs: readonly InputSummary[], raw: readonly number[]): void {
  if (raw.length !== inputs.length) {
    throw new ResnetServeError(
      'INVALID_ARGUMENT',
      `The request has ${inputs.length} inputs but ${raw.length} raw_input_contents; raw contents hold every input's data, or none.`,
      { details: { parameter: 'raw_input_contents' } },
    );
  }
  inputs.forEach((input, i) => {
    if (input.contents > 0) {
      throw new ResnetServeError('INVALID_ARGUMENT', `Input "${input.name}" has both contents and raw_input_contents.`, {
        details: { input: input.name },
      });
    }
    const size = DATATYPE_BYTES[input.datatype];
    const elements = input.shape.reduce((product, dim) => product * dim, 1);
    if (size !== undefined) expectElements(input.name, input.shape, elements * size, raw[i] ?? 0, 'bytes');
  });
}

function countAtMost(count: number, limit: number, what: string): void {
  if (count > limit) {
    throw new ResnetServeError('INVALID_ARGUMENT', `The request has more than ${limit} ${what}.`, {
      details: { parameter: what, limit },
    });
  }
}

function malformed(reason: string): ResnetServeError {
  return new ResnetServeError('INVALID_ARGUMENT', `The ModelInferRequest is not valid protobuf: ${reason}.`, {
    details: { parameter: 'request' },
  });
}

/** A window of the bytes, read with every length checked against what is left. */
class WireReader {
  readonly #bytes: Uint8Array;
  #pos: number;
  readonly #end: number;

  constructor(bytes: Uint8Array, pos: number, end: number) {
    this.#bytes = bytes;
    this.#pos = pos;
    this.#end = end;
  }

  done(): boolean {
    return this.#pos >= this.#end;
  }

  remaining(): number {
    return this.#end - this.#pos;
  }

  tag(): { field: number; type: WireType } {
    const key = this.varint();
    const field = Math.floor(key / 8);
    if (field === 0 || field > 0x1fffffff) throw malformed(`field number ${field} at byte ${this.#pos}`);
    return { field, type: key % 8 };
  }

  /** An unsigned varint, exact up to 2^53; longer than ten bytes is malformed. */
  varint(): number {
    let value = 0;
    for (let shift = 0; shift < 70; shift += 7) {
      if (this.#pos >= this.#end) throw malformed('it ends inside a varint');
      const byte = this.#bytes[this.#pos++] as number;
      value += (byte & 0x7f) * 2 ** shift;
      if (byte < 0x80) return value;
    }
    throw malformed('a varint is longer than ten bytes');
  }

  /**
   * An int64 (a dim), read as a BigInt: a negative one is a ten-byte two's complement varint, which a double
   * cannot hold (-1 would round to 2^64 and read as 0). Called at most {@link MAX_DIMS} + 1 times per input.
   */
  int64(): number {
    let value = 0n;
    for (let shift = 0n; shift < 70n; shift += 7n) {
      if (this.#pos >= this.#end) throw malformed('it ends inside a varint');
      const byte = this.#bytes[this.#pos++] as number;
      value |= BigInt(byte & 0x7f) << shift;
      if (byte < 0x80) return Number(BigInt.asIntN(64, value));
    }
    throw malformed('a varint is longer than ten bytes');
  }

  /** The window of a length-delimited field (a message, string, bytes or packed field), skipped here. */
  message(type: WireType, what: string): WireReader {
    if (type !== WireType.Delimited) throw malformed(`${what} has wire type ${type}`);
    const length = this.varint();
    if (length > this.remaining()) throw malformed(`a field of ${length} bytes has only ${this.remaining()} left`);
    const window = new WireReader(this.#bytes, this.#pos, this.#pos + length);
    this.#pos += length;
    return window;
  }

  /** The window's text, at most 256 characters of it (a name in an error message). */
  text(): string {
    const end = Math.min(this.#end, this.#pos + 256);
    return Buffer.from(this.#bytes.buffer, this.#bytes.byteOffset + this.#pos, end - this.#pos).toString('utf8');
  }

  /** Elements of a packed field of `element`s (varints, four or eight bytes each), from the bytes alone. */
  packedCount(element: WireType): number {
    const length = this.remaining();
    if (element !== WireType.Varint) {
      const size = element === WireType.Fixed32 ? 4 : 8;
      if (length % size !== 0) throw malformed(`a packed field of ${size}-byte elements is ${length} bytes long`);
      return length / size;
    }
    if (length > 0 && (this.#bytes[this.#end - 1] as number) >= 0x80) throw malformed('a packed field ends inside a varint');
    let count = 0;
    for (let i = this.#pos; i < this.#end; i++) if ((this.#bytes[i] as number) < 0x80) count++;
    return count;
  }

  skip(type: WireType): void {
    if (type === WireType.Varint) this.varint();
    else if (type === WireType.Delimited) this.message(type, 'a field');
    else if (type === WireType.Fixed64 || type === WireType.Fixed32) {
      const size = type === WireType.Fixed64 ? 8 : 4;
      if (size > this.remaining()) throw malformed('it ends inside a fixed-size field');
      this.#pos += size;
    } else throw malformed(`wire type ${type} (groups are not proto3)`);
  }
}
