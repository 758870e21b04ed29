import type { DType, StateDict } from '../../src/weights/types.js';

const NAMES: Partial<Record<DType, string>> = { float32: 'F32', int64: 'I64', int32: 'I32', uint8: 'U8', int8: 'I8' };

/**
 * A state_dict as a `.safetensors` file (https://github.com/huggingface/safetensors: u64 little-endian header
 * length, JSON header of dtype/shape/data_offsets, raw little-endian data), for tests that hand a checkpoint
 * file to a process, a container or a manifest the way a user would.
 */
export function encodeSafetensors(stateDict: StateDict): Buffer {
  const header: Record<string, { dtype: string; shape: readonly number[]; data_offsets: [number, number] }> = {};
  const chunks: Buffer[] = [];
  let offset = 0;
  for (const [key, tensor] of stateDict) {
    const dtype = NAMES[tensor.dtype];
    if (dtype === undefined) throw new TypeError(`encodeSafetensors: no safetensors dtype for ${tensor.dtype} (${key})`);
    const data = Buffer.from(tensor.data.buffer, tensor.data.byteOffset, tensor.data.byteLength);
    header[key] = { dtype, shape: tensor.shape, data_offsets: [offset, offset + data.byteLength] };
    chunks.push(data);
    offset += data.byteLength;
  }
  // The format pads the header with spaces so the data starts 8-byte aligned.
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - (json.length % 8)) % 8);
  const length = Buffer.alloc(8);
  length.writeBigUInt64LE(BigInt(json.length));
  return Buffer.concat([length, Buffer.from(json), ...chunks]);
}
