/**
 * Just enough of a protobuf reader to find named parts of an ONNX model without holding the model in memory:
 * fields are located by their keys and lengths, and only the payloads asked for are read. A 47 MB ResNet-18 is
 * walked with a few hundred small reads (onnx/onnx.proto field numbers are given where they are used).
 */

/**
 * Random access to the model's bytes: bytes already in memory (bytesSource, here: the page's worker reads the
 * model it downloaded) or a file read piece by piece (file-source.ts, Node only).
 */
export interface ByteSource {
  readonly size: number;
  read(position: number, length: number): Promise<Uint8Array>;
  close(): Promise<void>;
}

/** A field of a message: its number and, for length-delimited fields, where its payload lies in the source. */
export interface ProtoField {
  readonly no: number;
  readonly wire: number;
  /** varint value (wire type 0). */
  readonly value: number;
  /** Payload position and length (wire type 2). */
  readonly start: number;
  readonly length: number;
}

export function bytesSource(bytes: Uint8Array): ByteSource {
  return {
    size: bytes.length,
    read: async (position, length) => bytes.subarray(position, position + length),
    close: async () => {},
  };
}

/** The fields of the message stored in [start, start + length) of `source`, payloads not read. */
export async function fieldsOf(source: ByteSource, start: number, length: number): Promise<ProtoField[]> {
  const end = start + length;
  const fields: ProtoField[] = [];
  let pos = start;
  while (pos < end) {
    // A key and a length are at most 10 bytes each.
    const head = await source.read(pos, Math.min(20, end - pos));
    let at = 0;
    const varint = (): number => {
      let result = 0;
      let scale = 1;
      for (;;) {
        if (at >= head.length) throw new Error(`truncated varint at byte ${pos + at}`);
        const byte = head[at++] as number;
        result += (byte & 0x7f) * scale;
        if (byte < 0x80) return result;
        scale *= 128;
      }
    };
    const key = varint();
    const no = Math.floor(key / 8);
    const wire = key & 7;
    if (wire === 0) {
      fields.push({ no, wire, value: varint(), start: 0, length: 0 });
      pos += at;
    } else if (wire === 2) {
      const size = varint();
      fields.push({ no, wire, value: 0, start: pos + at, length: size });
      pos += at + size;
    } else if (wire === 1 || wire === 5) {
      pos += at + (wire === 1 ? 8 : 4);
    } else {
      throw new Error(`unsupported protobuf wire type ${wire} at byte ${pos}`);
    }
    if (pos > end) throw new Error(`field ${no} runs past its message (byte ${pos} > ${end})`);
  }
  return fields;
}

const UTF8 = new TextDecoder();

/** A small length-delimited field's payload as text. */
export async function textOf(source: ByteSource, field: ProtoField): Promise<string> {
  return UTF8.decode(await source.read(field.start, field.length));
}

/** Repeated int64 of a field list, packed or not (proto2 writes them unpacked, proto3 packed). */
export async function intsOf(source: ByteSource, fields: readonly ProtoField[], no: number): Promise<number[]> {
  const out: number[] = [];
  for (const field of fields) {
    if (field.no !== no) continue;
    if (field.wire === 0) {
      out.push(field.value);
      continue;
    }
    const bytes = await source.read(field.start, field.length);
    let value = 0;
    let scale = 1;
    for (const byte of bytes) {
      value += (byte & 0x7f) * scale;
      scale *= 128;
      if (byte < 0x80) {
        out.push(value);
        value = 0;
        scale = 1;
      }
    }
  }
  return out;
}
