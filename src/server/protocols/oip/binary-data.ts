import { ResnetServeError } from '../../../errors.js';

/** Bytes of the little-endian length that precedes every BYTES element in binary form. */
const LENGTH_PREFIX_BYTES = 4;

/**
 * The elements of a BYTES tensor in binary form: each is a 4-byte little-endian unsigned length followed by
 * that many bytes, with nothing between elements (extension_binary_data.md; tritonclient's
 * `serialize_byte_tensor` writes `struct.pack("<I", len(item))` then the item).
 *
 * @param data - The tensor's binary data, exactly `binary_data_size` bytes.
 * @param name - The tensor's name, for messages.
 * @returns views into `data`, one per element, no copies.
 * @throws ResnetServeError INVALID_ARGUMENT when a length runs past the end of the data.
 */
export function readBytesElements(data: Uint8Array, name: string): Uint8Array[] {
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const elements: Uint8Array[] = [];
  let at = 0;
  while (at < data.length) {
    if (at + LENGTH_PREFIX_BYTES > data.length) {
      throw bytesMalformed(name, elements.length, `${data.length - at} bytes remain where a 4-byte length was expected`);
    }
    const length = view.getUint32(at, true);
    at += LENGTH_PREFIX_BYTES;
    if (at + length > data.length) {
      throw bytesMalformed(name, elements.length, `its length says ${length} bytes but ${data.length - at} remain`);
    }
    elements.push(data.subarray(at, at + length));
    at += length;
  }
  return elements;
}

/** The binary form of a BYTES tensor: each element behind its 4-byte little-endian length. */
export function writeBytesElements(elements: readonly Uint8Array[]): Buffer {
  const total = elements.reduce((sum, element) => sum + LENGTH_PREFIX_BYTES + element.length, 0);
  const out = Buffer.allocUnsafe(total);
  let at = 0;
  for (const element of elements) {
    out.writeUInt32LE(element.length, at);
    out.set(element, at + LENGTH_PREFIX_BYTES);
    at += LENGTH_PREFIX_BYTES + element.length;
  }
  return out;
}

/**
 * FP32 values from little-endian bytes. The bytes may sit at any offset (after a JSON header of any length),
 * so they are copied into an aligned array rather than viewed; every platform Node supports is little-endian.
 */
export function readFloat32(data: Uint8Array): Float32Array {
  const out = new Float32Array(data.length / Float32Array.BYTES_PER_ELEMENT);
  new Uint8Array(out.buffer).set(data);
  return out;
}

/** The little-endian bytes of FP32 values, as a view (no copy). */
export function float32Bytes(values: Float32Array): Buffer {
  return Buffer.from(values.buffer, values.byteOffset, values.byteLength);
}

function bytesMalformed(name: string, index: number, why: string): ResnetServeError {
  return new ResnetServeError('INVALID_ARGUMENT', `The binary data of BYTES input "${name}" is malformed at element ${index}: ${why}.`, {
    details: { input: name, index },
  });
}
