import { ResnetServeError } from '../errors.js';
import { type PickleBuilder, PickleGlobal, type PickleValue, type UnpickleOptions } from './pickle.js';
import { toTensor } from './safetensors.js';
import type { DType, StateDict, TensorData } from './types.js';

/**
 * What torch.save's pickle means, shared by the zip and the legacy `.pth` readers: the allow-list of
 * globals, the storage persistent ids, `_rebuild_tensor_v2`, and turning the result into a StateDict.
 */

/** torch/storage.py `_LegacyStorage` subclasses a state_dict can reference, with their element types. */
const STORAGE_TYPES: ReadonlyMap<string, { dtype: DType; bytes: number }> = new Map([
  ['torch.FloatStorage', { dtype: 'float32', bytes: 4 }],
  ['torch.HalfStorage', { dtype: 'float16', bytes: 2 }],
  ['torch.BFloat16Storage', { dtype: 'bfloat16', bytes: 2 }],
  ['torch.DoubleStorage', { dtype: 'float64', bytes: 8 }],
  ['torch.LongStorage', { dtype: 'int64', bytes: 8 }],
  ['torch.IntStorage', { dtype: 'int32', bytes: 4 }],
  ['torch.ByteStorage', { dtype: 'uint8', bytes: 1 }],
  ['torch.CharStorage', { dtype: 'int8', bytes: 1 }],
  ['torch.BoolStorage', { dtype: 'bool', bytes: 1 }],
]);

/**
 * Elements of all tensors of one checkpoint together: 2^28 (1 GiB as float32). ResNet-152 has 60 M; the cap
 * stops a few-byte storage expanded with stride 0 into billions of elements.
 */
const MAX_TOTAL_ELEMENTS = 2 ** 28;

/** A storage named by a persistent id; its bytes arrive after unpickling (legacy files store them last). */
export class StorageRef {
  bytes: Uint8Array | undefined;

  constructor(
    readonly key: string,
    readonly dtype: DType,
    readonly elementSize: number,
    readonly numel: number,
  ) {}
}

/** `_rebuild_tensor_v2`'s arguments, checked; materialised once the storage bytes are known. */
export class TensorRef {
  constructor(
    readonly storage: StorageRef,
    readonly offset: number,
    readonly shape: readonly number[],
    readonly stride: readonly number[],
  ) {}
}

export type TorchValue = PickleValue<StorageRef | TensorRef>;

export function invalidCheckpoint(why: string): ResnetServeError {
  return new ResnetServeError('CHECKPOINT_INVALID', `Not a valid PyTorch checkpoint: ${why}.`);
}

/** One read of one checkpoint: the allow-list, the storages seen so far and the element budget. */
export class TorchUnpickleContext {
  readonly storages = new Map<string, StorageRef>();
  readonly globals: ReadonlyMap<string, PickleBuilder<StorageRef | TensorRef>>;
  #elements = 0;

  /** @param legacy pre-1.6 persistent ids carry a sixth field, `view_metadata`. */
  constructor(readonly legacy: boolean) {
    const globals = new Map<string, PickleBuilder<StorageRef | TensorRef>>([
      [
        'collections.OrderedDict',
        (args) => {
          if (args.length !== 0) throw invalidCheckpoint('OrderedDict is called with arguments');
          return new Map();
        },
      ],
      ['torch._utils._rebuild_tensor_v2', (args) => this.#rebuildTensor(args, 6)],
      // torch < 0.4 (legacy files only): the same four leading arguments, without requires_grad and hooks.
      ['torch._utils._rebuild_tensor', (args) => this.#rebuildTensor(args, 4)],
      [
        'torch._utils._rebuild_parameter',
        (args) => {
          const data = args[0];
          if (args.length !== 3 || !(data instanceof TensorRef)) throw invalidCheckpoint('_rebuild_parameter is not given a tensor');
          return data;
        },
      ],
    ]);
    for (const name of STORAGE_TYPES.keys()) globals.set(name, null);
    this.globals = globals;
  }

  /** The options to pass to `unpickle` for the checkpoint's main pickle. */
  get options(): UnpickleOptions<StorageRef | TensorRef> {
    return { globals: this.globals, persistentLoad: (pid) => this.#loadStorage(pid) };
  }

  /** torch/serialization.py `persistent_load`: ('storage', StorageType, key, location, numel[, view_metadata]). */
  #loadStorage(pid: TorchValue): StorageRef {
    const fields = this.legacy ? 6 : 5;
    if (!Array.isArray(pid) || pid.length !== fields || pid[0] !== 'storage') {
      throw invalidCheckpoint(`a persistent id is not a ('storage', type, key, location, numel${this.legacy ? ', view' : ''}) tuple`);
    }
    const [, type, key, , numel] = pid;
    if (!(type instanceof PickleGlobal)) throw invalidCheckpoint('a storage type is not a global');
    const spec = STORAGE_TYPES.get(type.qualifiedName);
    if (spec === undefined) throw invalidCheckpoint(`storage type ${type.qualifiedName} is not supported`);
    if (typeof key !== 'string' || !isIndex(numel)) throw invalidCheckpoint('a storage has a malformed key or element count');
    // view_metadata was only set for storages that were slices of other storages (torch < 0.4, CUDA);
    // parameters never are, so reading it is not worth an untested path.
    if (this.legacy && pid[5] !== null) throw invalidCheckpoint(`storage ${key} is a legacy storage view, which is not supported`);
    const seen = this.storages.get(key);
    if (seen !== undefined) {
      if (seen.dtype !== spec.dtype || seen.numel !== numel) throw invalidCheckpoint(`storage ${key} is used with two different types`);
      return seen;
    }
    const storage = new StorageRef(key, spec.dtype, spec.bytes, numel);
    this.storages.set(key, storage);
    return storage;
  }

  /** torch/_utils.py `_rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad, backward_hooks, metadata=None)`. */
  #rebuildTensor(args: readonly TorchValue[], minArgs: number): TensorRef {
    const [storage, offset, size, stride] = args;
    if (args.length < minArgs || args.length > minArgs + 1) throw invalidCheckpoint(`a tensor is rebuilt with ${args.length} arguments`);
    if (!(storage instanceof StorageRef)) throw invalidCheckpoint('a tensor is rebuilt from something that is not a storage');
    if (!isIndex(offset) || !isIndexTuple(size) || !isIndexTuple(stride) || size.length !== stride.length) {
      throw invalidCheckpoint('a tensor has a malformed offset, size or stride');
    }
    let numel = 1;
    let last = offset;
    for (let d = 0; d < size.length; d++) {
      numel *= size[d]!;
      last += (size[d]! - 1) * stride[d]!;
    }
    if (numel > 0 && last >= storage.numel) {
      throw invalidCheckpoint(
        `a tensor of shape [${size.join(', ')}] reaches element ${last} of storage ${storage.key}, which has ${storage.numel}`,
      );
    }
    this.#elements += numel;
    if (this.#elements > MAX_TOTAL_ELEMENTS) throw invalidCheckpoint(`its tensors hold more than ${MAX_TOTAL_ELEMENTS} elements`);
    return new TensorRef(storage, offset, [...size], [...stride]);
  }
}

function isIndex(value: unknown): value is number {
  return Number.isSafeInteger(value) && (value as number) >= 0;
}

function isIndexTuple(value: unknown): value is number[] {
  return Array.isArray(value) && value.every(isIndex);
}

/**
 * The name→tensor mapping inside a checkpoint: the top-level dict itself, or — for the common training
 * checkpoint shape — a dict under `state_dict` or `model` when that is such a mapping.
 *
 * @throws ResnetServeError CHECKPOINT_INVALID when neither is a mapping of string names to tensors.
 */
export function findTensorMap(top: TorchValue): Map<string, TensorRef> {
  if (isTensorMap(top)) return top;
  if (top instanceof Map) {
    for (const key of ['state_dict', 'model']) {
      const inner = top.get(key);
      if (inner !== undefined && isTensorMap(inner)) return inner;
    }
    const keys = [...top.keys()]
      .slice(0, 5)
      .map((k) => JSON.stringify(k))
      .join(', ');
    throw invalidCheckpoint(
      `the top-level dict (keys ${keys}${top.size > 5 ? ', …' : ''}) is not a mapping of names to tensors, nor does it hold one under 'state_dict' or 'model'`,
    );
  }
  throw invalidCheckpoint('the top level is not a dict of names to tensors');
}

function isTensorMap(value: TorchValue): value is Map<string, TensorRef> {
  if (!(value instanceof Map)) return false;
  for (const [key, item] of value) if (typeof key !== 'string' || !(item instanceof TensorRef)) return false;
  return true;
}

/**
 * Copies every tensor out of its storage (now filled) into contiguous TensorData, in checkpoint order.
 * @throws ResnetServeError CHECKPOINT_INVALID when a storage's bytes are missing or of the wrong length.
 */
export function materialize(tensors: Map<string, TensorRef>): StateDict {
  const stateDict: StateDict = new Map();
  for (const [name, tensor] of tensors) stateDict.set(name, materializeOne(tensor));
  return stateDict;
}

function materializeOne({ storage, offset, shape, stride }: TensorRef): TensorData {
  const bytes = storage.bytes;
  if (bytes === undefined) throw invalidCheckpoint(`storage ${storage.key} has no data`);
  if (bytes.byteLength !== storage.numel * storage.elementSize) {
    throw invalidCheckpoint(`storage ${storage.key} has ${bytes.byteLength} bytes, not ${storage.numel} × ${storage.elementSize}`);
  }
  const size = storage.elementSize;
  const numel = shape.reduce((a, b) => a * b, 1);
  if (isContiguous(shape, stride)) return toTensor(storage.dtype, shape, bytes.subarray(offset * size, (offset + numel) * size));
  // A view saved as-is (e.g. a transposed weight) keeps its storage and strides; lay it out row-major.
  const out = new Uint8Array(numel * size);
  const index = new Array<number>(shape.length).fill(0);
  let from = offset;
  for (let i = 0; i < numel; i++) {
    out.set(bytes.subarray(from * size, from * size + size), i * size);
    for (let d = shape.length - 1; d >= 0; d--) {
      index[d]! += 1;
      from += stride[d]!;
      if (index[d]! < shape[d]!) break;
      from -= stride[d]! * shape[d]!;
      index[d] = 0;
    }
  }
  return toTensor(storage.dtype, shape, out);
}

/** Row-major with no gaps; like torch's `is_contiguous`, a dimension of size 1 may have any stride. */
function isContiguous(shape: readonly number[], stride: readonly number[]): boolean {
  let expected = 1;
  for (let d = shape.length - 1; d >= 0; d--) {
    if (shape[d] !== 1 && stride[d] !== expected) return false;
    expected *= shape[d]!;
  }
  return true;
}
