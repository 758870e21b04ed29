import { ResnetServeError } from '../errors.js';
import { instanceOf } from '../guards.js';
import type { DType, StateDict, TensorData } from './types.js';

/** The header is JSON; the format caps it at 100 MB, far above any ResNet's (a few KB). */
const MAX_HEADER_BYTES = 16 * 1024 * 1024;

const DTYPES: Record<string, { dtype: DType; bytes: number }> = {
  F32: { dtype: 'float32', bytes: 4 },
  F16: { dtype: 'float16', bytes: 2 },
  BF16: { dtype: 'bfloat16', bytes: 2 },
  F64: { dtype: 'float64', bytes: 8 },
  I64: { dtype: 'int64', bytes: 8 },
  I32: { dtype: 'int32', bytes: 4 },
  U8: { dtype: 'uint8', bytes: 1 },
  I8: { dtype: 'int8', bytes: 1 },
  BOOL: { dtype: 'bool', bytes: 1 },
};

interface HeaderEntry {
  dtype: string;
  shape: number[];
  data_offsets: [number, number];
}

/**
 * Reads a `.safetensors` file (https://github.com/huggingface/safetensors: u64 little-endian header length,
 * JSON header, raw little-endian data) into a state_dict. Nothing in the file is executed.
 *
 * @throws ResnetServeError CHECKPOINT_INVALID when the header or any offset is malformed; INVALID_ARGUMENT when
 *   `bytes` is not a Uint8Array.
 */
export function readSafetensors(bytes: Uint8Array): StateDict {
  instanceOf('bytes', bytes, Uint8Array, 'a Uint8Array or Buffer');
  const invalid = (why: string): ResnetServeError => new ResnetServeError('CHECKPOINT_INVALID', `Not a valid .safetensors file: ${why}.`);
  if (bytes.byteLength < 8) throw invalid('shorter than its 8-byte header length');
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLength = view.getBigUint64(0, true);
  if (headerLength > BigInt(Math.min(MAX_HEADER_BYTES, bytes.byteLength - 8))) throw invalid('header length exceeds the file');
  const headerEnd = 8 + Number(headerLength);
  let header: Record<string, unknown>;
  try {
    header = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(8, headerEnd))) as Record<string, unknown>;
  } catch (cause) {
    throw new ResnetServeError('CHECKPOINT_INVALID', 'Not a valid .safetensors file: the header is not JSON.', { cause });
  }
  const dataLength = bytes.byteLength - headerEnd;
  const stateDict: StateDict = new Map();
  for (const [name, value] of Object.entries(header)) {
    if (name === '__metadata__') continue;
    const entry = parseEntry(value);
    if (entry === undefined) throw invalid(`tensor ${JSON.stringify(name)} has a malformed header entry`);
    const spec = DTYPES[entry.dtype];
    if (spec === undefined) throw invalid(`tensor ${JSON.stringify(name)} has unsupported dtype ${entry.dtype}`);
    const [begin, end] = entry.data_offsets;
    const count = entry.shape.reduce((a, b) => a * b, 1);
    if (end > dataLength || begin > end || end - begin !== count * spec.bytes) {
      throw invalid(`tensor ${JSON.stringify(name)} has offsets that do not match its shape`);
    }
    stateDict.set(name, toTensor(spec.dtype, entry.shape, bytes.subarray(headerEnd + begin, headerEnd + end)));
  }
  return stateDict;
}

function parseEntry(value: unknown): HeaderEntry | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const { dtype, shape, data_offsets: offsets } = value as Record<string, unknown>;
  const isIndex = (n: unknown): n is number => Number.isSafeInteger(n) && (n as number) >= 0;
  if (typeof dtype !== 'string' || !Array.isArray(shape) || !shape.every(isIndex)) return undefined;
  if (!Array.isArray(offsets) || offsets.length !== 2) return undefined;
  const [begin, end] = offsets as unknown[];
  if (!isIndex(begin) || !isIndex(end)) return undefined;
  return { dtype, shape, data_offsets: [begin, end] };
}

/** Copies the raw little-endian bytes into an aligned typed array, widening half floats to float32. */
export function toTensor(dtype: DType, shape: readonly number[], raw: Uint8Array): TensorData {
  // Uint8Array.prototype.slice, not Buffer#slice (a view): the copy must own an aligned buffer of its own.
  const copy = new Uint8Array(raw);
  const view = new DataView(copy.buffer);
  switch (dtype) {
    case 'float32':
      return { dtype, shape, data: new Float32Array(copy.buffer) };
    case 'float64':
      return { dtype, shape, data: Float32Array.from(new Float64Array(copy.buffer)) };
    case 'float16': {
      const out = new Float32Array(copy.byteLength / 2);
      for (let i = 0; i < out.length; i++) out[i] = halfToFloat(view.getUint16(i * 2, true));
      return { dtype, shape, data: out };
    }
    case 'bfloat16': {
      const out = new Float32Array(copy.byteLength / 2);
      const bits = new Uint32Array(out.buffer);
      for (let i = 0; i < out.length; i++) bits[i] = view.getUint16(i * 2, true) << 16;
      return { dtype, shape, data: out };
    }
    case 'int64':
      return { dtype, shape, data: new BigInt64Array(copy.buffer) };
    case 'int32':
      return { dtype, shape, data: new Int32Array(copy.buffer) };
    case 'int8':
      return { dtype, shape, data: new Int8Array(copy.buffer) };
    case 'uint8':
    case 'bool':
      return { dtype, shape, data: copy };
  }
}

function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exponent = (h >> 10) & 0x1f;
  const fraction = h & 0x3ff;
  if (exponent === 0) return sign * 2 ** -14 * (fraction / 1024);
  if (exponent === 0x1f) return fraction === 0 ? sign * Infinity : NaN;
  return sign * 2 ** (exponent - 15) * (1 + fraction / 1024);
}
