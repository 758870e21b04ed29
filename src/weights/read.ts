import { ResnetServeError } from '../errors.js';
import { instanceOf } from '../guards.js';
import { isPickle, readPth } from './pth.js';
import { readSafetensors } from './safetensors.js';
import type { StateDict } from './types.js';
import { isZip } from './zip.js';

/**
 * Reads a checkpoint into a state_dict, choosing the reader from the first bytes — never the file name:
 * a little-endian u64 header length that fits the file followed by `{` → `.safetensors`; `PK\x03\x04` →
 * torch zip `.pth`; a pickle PROTO → legacy `.pth`. An ONNX model is not a state_dict and is refused here
 * (the caller loads ONNX files directly).
 *
 * @throws ResnetServeError CHECKPOINT_INVALID for an unrecognised or malformed file; CHECKPOINT_UNSAFE when
 *   a `.pth` pickle references a global outside the allow-list; INVALID_ARGUMENT when `bytes` is not a Uint8Array.
 */
export function readStateDict(bytes: Uint8Array): StateDict {
  instanceOf('bytes', bytes, Uint8Array, 'a Uint8Array or Buffer');
  // safetensors before pickle: a header length of 640 starts with the bytes 80 02, like PROTO 2.
  if (isSafetensors(bytes)) return readSafetensors(bytes);
  if (isZip(bytes) || isPickle(bytes)) return readPth(bytes);
  const hint = looksLikeOnnx(bytes) ? ' It looks like an ONNX model, which is loaded as a model, not as weights.' : '';
  throw new ResnetServeError(
    'CHECKPOINT_INVALID',
    `The weights file is not a PyTorch .pth (zip or legacy) or .safetensors checkpoint.${hint}`,
  );
}

function isSafetensors(bytes: Uint8Array): boolean {
  if (bytes.byteLength < 9) return false;
  const headerLength = new DataView(bytes.buffer, bytes.byteOffset, 8).getBigUint64(0, true);
  return headerLength <= BigInt(bytes.byteLength - 8) && bytes[8] === 0x7b;
}

/** onnx.proto ModelProto starts with field 1, `ir_version` (varint): tag byte 0x08. */
function looksLikeOnnx(bytes: Uint8Array): boolean {
  return bytes.byteLength > 2 && bytes[0] === 0x08 && bytes[1]! > 0 && bytes[1]! < 0x20;
}
