import { instanceOf } from '../guards.js';
import { type PickleBuilder, unpickle } from './pickle.js';
import { findTensorMap, invalidCheckpoint, materialize, TorchUnpickleContext } from './torch-pickle.js';
import type { StateDict } from './types.js';
import { isZip, openZip } from './zip.js';

/** torch/serialization.py MAGIC_NUMBER, the first pickle of a pre-1.6 (legacy) checkpoint. */
const LEGACY_MAGIC = 0x1950a86a20f9469cfc6cn;
/** torch/serialization.py PROTOCOL_VERSION. */
const LEGACY_PROTOCOL_VERSION = 1001;

/**
 * True when the bytes start like a pickle (PROTO 2..5), as a legacy torch.save file does; `readPth`
 * confirms torch's magic number.
 */
export function isPickle(bytes: Uint8Array): boolean {
  return bytes.byteLength >= 2 && bytes[0] === 0x80 && bytes[1]! >= 2 && bytes[1]! <= 5;
}

/**
 * Reads a `torch.save(state_dict)` file without running Python or any code from the file: the zip
 * format (torch ≥ 1.6, e.g. torchvision's resnet18-f37072fd.pth) or the legacy format (magic number,
 * pickles, raw storages). Non-contiguous tensors come out contiguous; half floats are widened to float32.
 * A dict wrapping the state_dict under `state_dict` or `model` is unwrapped.
 *
 * @example readPth(readFileSync('resnet18-f37072fd.pth')).get('fc.bias')?.shape // [1000]
 * @throws ResnetServeError CHECKPOINT_UNSAFE when the pickle references a global outside the allow-list;
 *   CHECKPOINT_INVALID when the file is malformed, truncated, or not a mapping of names to tensors; INVALID_ARGUMENT
 *   when `bytes` is not a Uint8Array.
 */
export function readPth(bytes: Uint8Array): StateDict {
  instanceOf('bytes', bytes, Uint8Array, 'a Uint8Array or Buffer');
  if (isZip(bytes)) return readZipPth(bytes);
  if (isPickle(bytes)) return readLegacyPth(bytes);
  throw invalidCheckpoint('it is neither a ZIP archive nor a pickle');
}

/** caffe2/serialize/inline_container.cc: `<archive>/data.pkl`, `<archive>/data/<key>`, `<archive>/byteorder`. */
function readZipPth(bytes: Uint8Array): StateDict {
  const zip = openZip(bytes);
  const pickles = [...zip.entries.keys()].filter((name) => /^[^/]+\/data\.pkl$/.test(name));
  if (pickles.length !== 1) throw invalidCheckpoint(`the archive has ${pickles.length} <archive>/data.pkl records instead of one`);
  const prefix = pickles[0]!.slice(0, -'data.pkl'.length);
  const byteorder = zip.entries.has(`${prefix}byteorder`) ? new TextDecoder().decode(zip.read(`${prefix}byteorder`)) : 'little';
  if (byteorder !== 'little') throw invalidCheckpoint(`it was saved on a ${byteorder}-endian machine, which is not supported`);

  const context = new TorchUnpickleContext(false);
  const tensors = findTensorMap(unpickle(zip.read(pickles[0]!), context.options).value);
  for (const storage of context.storages.values()) {
    const record = `${prefix}data/${storage.key}`;
    if (!zip.entries.has(record)) throw invalidCheckpoint(`storage record ${record} is missing`);
    storage.bytes = zip.read(record);
  }
  return materialize(tensors);
}

/** torch/serialization.py `_legacy_load`: magic, protocol version, sys_info, the object, storage keys, storages. */
function readLegacyPth(bytes: Uint8Array): StateDict {
  // The framing pickles hold only ints, strings and dicts: no global at all is allowed in them.
  const plain = { globals: new Map<string, PickleBuilder<never>>() };
  const magic = unpickle(bytes, plain);
  if (magic.value !== LEGACY_MAGIC) throw invalidCheckpoint("it is a pickle but does not start with torch.save's magic number");
  const version = unpickle(bytes, { ...plain, offset: magic.end });
  if (version.value !== LEGACY_PROTOCOL_VERSION)
    throw invalidCheckpoint(`legacy protocol version ${String(version.value)} is not ${LEGACY_PROTOCOL_VERSION}`);
  const sysInfo = unpickle(bytes, { ...plain, offset: version.end });
  if (!(sysInfo.value instanceof Map) || sysInfo.value.get('little_endian') !== true) {
    throw invalidCheckpoint('it was saved on a big-endian machine or without sys_info, which is not supported');
  }

  const context = new TorchUnpickleContext(true);
  const main = unpickle(bytes, { ...context.options, offset: sysInfo.end });
  const tensors = findTensorMap(main.value);
  const keys = unpickle(bytes, { ...plain, offset: main.end });
  if (!Array.isArray(keys.value) || !keys.value.every((key) => typeof key === 'string')) {
    throw invalidCheckpoint('the storage key list is not a list of strings');
  }
  // Each storage: its element count as int64 little-endian, then the raw elements (torch/csrc/serialization.cpp).
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let at = keys.end;
  for (const key of keys.value as string[]) {
    const storage = context.storages.get(key);
    if (storage === undefined) throw invalidCheckpoint(`storage ${key} is listed but never referenced`);
    if (at + 8 > bytes.byteLength) throw invalidCheckpoint(`storage ${key} is missing (truncated file?)`);
    const count = view.getBigInt64(at, true);
    if (count !== BigInt(storage.numel)) throw invalidCheckpoint(`storage ${key} declares ${count} elements, not ${storage.numel}`);
    const end = at + 8 + storage.numel * storage.elementSize;
    if (end > bytes.byteLength) throw invalidCheckpoint(`storage ${key} runs past the end of the file (truncated?)`);
    storage.bytes = bytes.subarray(at + 8, end);
    at = end;
  }
  return materialize(tensors);
}
