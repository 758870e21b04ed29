import { ResnetServeError } from '../errors.js';

/**
 * A pickle virtual machine restricted to what `torch.save` emits for a state_dict (checked with
 * `pickletools.dis` on torch 2.13 zip and legacy files; protocol 2, plus the protocol 3-4 opcodes a
 * user's `pickle_protocol=4` would add). It never calls anything by itself: GLOBAL only resolves names
 * through the caller's allow-list, and REDUCE only dispatches to the TypeScript builders that list holds.
 * Everything is bounded (operations, stack, mark depth, memo, string sizes) so a crafted file fails fast.
 */

/** Python values the VM produces. Tuples are frozen arrays, lists mutable arrays, dicts Maps. */
export type PickleValue<X> = null | boolean | number | bigint | string | Uint8Array | PickleGlobal | PickleValue<X>[] | PickleDict<X> | X;

export type PickleKey = string | number | bigint | boolean | null;
export type PickleDict<X> = Map<PickleKey, PickleValue<X>>;

/** A global the allow-list accepted: `module.name`, e.g. `torch.FloatStorage`. */
export class PickleGlobal {
  constructor(
    readonly module: string,
    readonly name: string,
  ) {}

  get qualifiedName(): string {
    return `${this.module}.${this.name}`;
  }
}

/** A REDUCE target: receives the argument tuple, returns the built value. `null` = may be referenced but not called. */
export type PickleBuilder<X> = ((args: readonly PickleValue<X>[]) => PickleValue<X>) | null;

export interface PickleLimits {
  /** Opcodes executed before giving up. Default 2 000 000 (resnet18's data.pkl runs ~3 000). */
  maxOps?: number;
  /** Values on the stack. Default 1 000 000. */
  maxStack?: number;
  /** Nested MARKs. Default 1 000 (CPython's own recursion limit would stop a deeper pickle too). */
  maxMarkDepth?: number;
  /** Memo entries. Default 1 000 000. */
  maxMemo?: number;
  /** Bytes of one string or bytes object. Default 16 MiB; state_dict keys are tens of bytes. */
  maxStringBytes?: number;
}

export interface UnpickleOptions<X> {
  /** The allow-list, keyed by `module.name`. Any other global is CHECKPOINT_UNSAFE. */
  globals: ReadonlyMap<string, PickleBuilder<X>>;
  /** Resolves BINPERSID ids (torch: storages). Without it BINPERSID is CHECKPOINT_INVALID. */
  persistentLoad?: (pid: PickleValue<X>) => PickleValue<X>;
  /** Byte where the pickle starts (legacy checkpoints hold several pickles back to back). Default 0. */
  offset?: number;
  limits?: PickleLimits;
}

export interface UnpickleResult<X> {
  value: PickleValue<X>;
  /** Byte just after the STOP opcode. */
  end: number;
}

/** Every standard opcode's name, so an unsupported one is reported by name (Lib/pickletools.py). */
const OPCODE_NAMES: Record<number, string> = {
  40: 'MARK',
  46: 'STOP',
  48: 'POP',
  49: 'POP_MARK',
  50: 'DUP',
  70: 'FLOAT',
  73: 'INT',
  74: 'BININT',
  75: 'BININT1',
  76: 'LONG',
  77: 'BININT2',
  78: 'NONE',
  80: 'PERSID',
  81: 'BINPERSID',
  82: 'REDUCE',
  83: 'STRING',
  84: 'BINSTRING',
  85: 'SHORT_BINSTRING',
  86: 'UNICODE',
  88: 'BINUNICODE',
  97: 'APPEND',
  98: 'BUILD',
  99: 'GLOBAL',
  100: 'DICT',
  125: 'EMPTY_DICT',
  101: 'APPENDS',
  103: 'GET',
  104: 'BINGET',
  105: 'INST',
  106: 'LONG_BINGET',
  108: 'LIST',
  93: 'EMPTY_LIST',
  111: 'OBJ',
  112: 'PUT',
  113: 'BINPUT',
  114: 'LONG_BINPUT',
  115: 'SETITEM',
  116: 'TUPLE',
  41: 'EMPTY_TUPLE',
  117: 'SETITEMS',
  71: 'BINFLOAT',
  128: 'PROTO',
  129: 'NEWOBJ',
  130: 'EXT1',
  131: 'EXT2',
  132: 'EXT4',
  133: 'TUPLE1',
  134: 'TUPLE2',
  135: 'TUPLE3',
  136: 'NEWTRUE',
  137: 'NEWFALSE',
  138: 'LONG1',
  139: 'LONG4',
  66: 'BINBYTES',
  67: 'SHORT_BINBYTES',
  140: 'SHORT_BINUNICODE',
  141: 'BINUNICODE8',
  142: 'BINBYTES8',
  143: 'EMPTY_SET',
  144: 'ADDITEMS',
  145: 'FROZENSET',
  146: 'NEWOBJ_EX',
  147: 'STACK_GLOBAL',
  148: 'MEMOIZE',
  149: 'FRAME',
  150: 'BYTEARRAY8',
  151: 'NEXT_BUFFER',
  152: 'READONLY_BUFFER',
};

/** Python ints wider than this many bytes never occur in a state_dict; the legacy magic number takes 10. */
const MAX_LONG_BYTES = 64;
/** GLOBAL's module and name are text lines; real ones are under 40 characters. */
const MAX_GLOBAL_LINE = 256;

/**
 * Python 2 module names that protocol-2 pickles contain and CPython's Unpickler renames (fix_imports,
 * Lib/_compat_pickle.py IMPORT_MAPPING), e.g. `eval` is written as `__builtin__.eval`. Only the renames that
 * matter for naming a refused global are listed; nothing here is ever allow-listed.
 */
const PYTHON2_MODULES: Readonly<Record<string, string>> = {
  __builtin__: 'builtins',
  copy_reg: 'copyreg',
  cPickle: 'pickle',
  exceptions: 'builtins',
};

const MARK = Symbol('mark');
type Slot<X> = PickleValue<X> | typeof MARK;

/**
 * Runs one pickle from `options.offset` to its STOP opcode.
 *
 * @throws ResnetServeError CHECKPOINT_UNSAFE when a GLOBAL is not in `options.globals` (the message names it);
 *   CHECKPOINT_INVALID for an unsupported opcode, a truncated or malformed pickle, or an exceeded limit.
 */
export function unpickle<X>(bytes: Uint8Array, options: UnpickleOptions<X>): UnpickleResult<X> {
  const maxOps = options.limits?.maxOps ?? 2_000_000;
  const maxStack = options.limits?.maxStack ?? 1_000_000;
  const maxMarkDepth = options.limits?.maxMarkDepth ?? 1_000;
  const maxMemo = options.limits?.maxMemo ?? 1_000_000;
  const maxStringBytes = options.limits?.maxStringBytes ?? 16 * 1024 * 1024;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const utf8 = new TextDecoder('utf-8', { fatal: true });
  const stack: Slot<X>[] = [];
  const marks: number[] = [];
  const memo = new Map<number, PickleValue<X>>();
  let pos = options.offset ?? 0;
  let opStart = pos;

  const invalid = (why: string, cause?: unknown): ResnetServeError =>
    new ResnetServeError('CHECKPOINT_INVALID', `Malformed pickle at byte ${opStart}: ${why}.`, cause === undefined ? {} : { cause });
  const need = (n: number, what: string): number => {
    if (n > bytes.byteLength - pos)
      throw invalid(`${what} needs ${n} bytes but only ${bytes.byteLength - pos} remain (truncated or corrupt)`);
    const at = pos;
    pos += n;
    return at;
  };
  const push = (value: PickleValue<X>): void => {
    if (stack.length >= maxStack) throw invalid(`the stack exceeds ${maxStack} values`);
    stack.push(value);
  };
  const pop = (): PickleValue<X> => {
    const floor = marks.length > 0 ? marks[marks.length - 1]! : 0;
    if (stack.length <= floor) throw invalid('an opcode pops from an empty stack');
    return stack.pop() as PickleValue<X>;
  };
  const top = (): PickleValue<X> => {
    const floor = marks.length > 0 ? marks[marks.length - 1]! : 0;
    if (stack.length <= floor) throw invalid('an opcode reads from an empty stack');
    return stack[stack.length - 1] as PickleValue<X>;
  };
  const popMark = (): PickleValue<X>[] => {
    const mark = marks.pop();
    if (mark === undefined) throw invalid('an opcode needs a MARK but none is open');
    return stack.splice(mark) as PickleValue<X>[];
  };
  const text = (length: number, what: string): string => {
    if (length > maxStringBytes) throw invalid(`a ${what} of ${length} bytes exceeds the ${maxStringBytes}-byte limit`);
    const at = need(length, what);
    try {
      return utf8.decode(bytes.subarray(at, at + length));
    } catch (cause) {
      throw invalid(`a ${what} is not valid UTF-8`, cause);
    }
  };
  const raw = (length: number, what: string): Uint8Array => {
    if (length > maxStringBytes) throw invalid(`a ${what} of ${length} bytes exceeds the ${maxStringBytes}-byte limit`);
    const at = need(length, what);
    return bytes.subarray(at, at + length);
  };
  const line = (): string => {
    const end = bytes.subarray(pos, pos + MAX_GLOBAL_LINE + 1).indexOf(0x0a);
    if (end < 0) throw invalid(`a GLOBAL name is not a newline-terminated line of at most ${MAX_GLOBAL_LINE} bytes`);
    return text(end + 1, 'GLOBAL name').slice(0, -1);
  };
  const resolveGlobal = (written: string, name: string): PickleGlobal => {
    const module = Object.hasOwn(PYTHON2_MODULES, written) ? PYTHON2_MODULES[written]! : written;
    const qualified = `${module}.${name}`;
    if (!options.globals.has(qualified)) {
      throw new ResnetServeError('CHECKPOINT_UNSAFE', { global: qualified }, { details: { global: qualified, offset: opStart } });
    }
    return new PickleGlobal(module, name);
  };
  const memoize = (index: number): void => {
    if (!memo.has(index) && memo.size >= maxMemo) throw invalid(`the memo exceeds ${maxMemo} entries`);
    memo.set(index, top());
  };
  const recall = (index: number): PickleValue<X> => {
    const value = memo.get(index);
    if (value === undefined) throw invalid(`memo entry ${index} is read before it is written`);
    return value;
  };
  const integer = (value: bigint): number | bigint =>
    value >= BigInt(Number.MIN_SAFE_INTEGER) && value <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(value) : value;
  const long = (length: number): number | bigint => {
    if (length > MAX_LONG_BYTES) throw invalid(`an integer of ${length} bytes is larger than any checkpoint holds`);
    const at = need(length, 'LONG');
    let value = 0n;
    for (let i = length - 1; i >= 0; i--) value = (value << 8n) | BigInt(bytes[at + i]!);
    if (length > 0 && (bytes[at + length - 1]! & 0x80) !== 0) value -= 1n << BigInt(8 * length);
    return integer(value);
  };
  const tuple = (items: PickleValue<X>[]): PickleValue<X>[] => Object.freeze(items) as PickleValue<X>[];
  const asList = (value: PickleValue<X>, op: string): PickleValue<X>[] => {
    if (!Array.isArray(value) || Object.isFrozen(value)) throw invalid(`${op} targets something that is not a list`);
    return value;
  };
  const asDict = (value: PickleValue<X>, op: string): PickleDict<X> => {
    if (!(value instanceof Map)) throw invalid(`${op} targets something that is not a dict`);
    return value;
  };
  const asKey = (value: PickleValue<X>): PickleKey => {
    if (value === null || ['string', 'number', 'bigint', 'boolean'].includes(typeof value)) return value as PickleKey;
    throw invalid('a dict key is not a string, number or boolean');
  };
  const setItems = (dict: PickleDict<X>, items: PickleValue<X>[]): void => {
    if (items.length % 2 !== 0) throw invalid('SETITEMS has an odd number of values');
    for (let i = 0; i < items.length; i += 2) dict.set(asKey(items[i]!), items[i + 1]!);
  };

  for (let ops = 0; ; ops++) {
    if (ops >= maxOps) throw invalid(`the pickle runs more than ${maxOps} operations`);
    opStart = pos;
    const op = bytes[need(1, 'an opcode')]!;
    switch (op) {
      case 0x80: {
        // PROTO
        const version = bytes[need(1, 'PROTO')]!;
        if (version > 5) throw invalid(`pickle protocol ${version} is newer than 5`);
        break;
      }
      case 0x95: // FRAME: a length prefix for buffering; the bytes follow inline, so only check it.
        if (view.getBigUint64(need(8, 'FRAME'), true) > BigInt(bytes.byteLength - pos))
          throw invalid('a FRAME is longer than the rest of the file');
        break;
      case 0x2e: {
        // STOP
        if (marks.length > 0 || stack.length !== 1) throw invalid('STOP leaves the stack unbalanced');
        return { value: stack[0] as PickleValue<X>, end: pos };
      }
      case 0x28: // MARK
        if (marks.length >= maxMarkDepth) throw invalid(`MARKs nest deeper than ${maxMarkDepth}`);
        marks.push(stack.length);
        break;
      case 0x30: // POP
        pop();
        break;
      case 0x31: // POP_MARK
        popMark();
        break;
      case 0x4e:
        push(null);
        break; // NONE
      case 0x88:
        push(true);
        break; // NEWTRUE
      case 0x89:
        push(false);
        break; // NEWFALSE
      case 0x4a:
        push(view.getInt32(need(4, 'BININT'), true));
        break;
      case 0x4b:
        push(bytes[need(1, 'BININT1')]!);
        break;
      case 0x4d:
        push(view.getUint16(need(2, 'BININT2'), true));
        break;
      case 0x8a:
        push(long(bytes[need(1, 'LONG1')]!));
        break;
      case 0x8b:
        push(long(view.getUint32(need(4, 'LONG4'), true)));
        break;
      case 0x47:
        push(view.getFloat64(need(8, 'BINFLOAT'), false));
        break;
      case 0x58:
        push(text(view.getUint32(need(4, 'BINUNICODE'), true), 'BINUNICODE string'));
        break;
      case 0x8c:
        push(text(bytes[need(1, 'SHORT_BINUNICODE')]!, 'SHORT_BINUNICODE string'));
        break;
      // Python 2 `str` in pre-1.6 checkpoints; torch.load decodes them with encoding='utf-8' by default.
      case 0x54:
        push(text(view.getInt32(need(4, 'BINSTRING'), true) >>> 0, 'BINSTRING string'));
        break;
      case 0x55:
        push(text(bytes[need(1, 'SHORT_BINSTRING')]!, 'SHORT_BINSTRING string'));
        break;
      case 0x42:
        push(raw(view.getUint32(need(4, 'BINBYTES'), true), 'BINBYTES object'));
        break;
      case 0x43:
        push(raw(bytes[need(1, 'SHORT_BINBYTES')]!, 'SHORT_BINBYTES object'));
        break;
      case 0x7d:
        push(new Map());
        break; // EMPTY_DICT
      case 0x5d:
        push([]);
        break; // EMPTY_LIST
      case 0x29:
        push(tuple([]));
        break; // EMPTY_TUPLE
      case 0x74:
        push(tuple(popMark()));
        break; // TUPLE
      case 0x85:
        push(tuple([pop()]));
        break; // TUPLE1
      case 0x86: {
        // TUPLE2
        const b = pop();
        push(tuple([pop(), b]));
        break;
      }
      case 0x87: {
        // TUPLE3
        const c = pop();
        const b = pop();
        push(tuple([pop(), b, c]));
        break;
      }
      case 0x6c:
        push(popMark());
        break; // LIST
      case 0x64: {
        // DICT
        const dict: PickleDict<X> = new Map();
        setItems(dict, popMark());
        push(dict);
        break;
      }
      case 0x61: {
        // APPEND
        const item = pop();
        asList(top(), 'APPEND').push(item);
        break;
      }
      case 0x65: {
        // APPENDS
        const items = popMark();
        asList(top(), 'APPENDS').push(...items);
        break;
      }
      case 0x73: {
        // SETITEM
        const value = pop();
        const key = pop();
        asDict(top(), 'SETITEM').set(asKey(key), value);
        break;
      }
      case 0x75: {
        // SETITEMS
        const items = popMark();
        setItems(asDict(top(), 'SETITEMS'), items);
        break;
      }
      case 0x71:
        memoize(bytes[need(1, 'BINPUT')]!);
        break;
      case 0x72:
        memoize(view.getUint32(need(4, 'LONG_BINPUT'), true));
        break;
      case 0x94:
        memoize(memo.size);
        break; // MEMOIZE
      case 0x68:
        push(recall(bytes[need(1, 'BINGET')]!));
        break;
      case 0x6a:
        push(recall(view.getUint32(need(4, 'LONG_BINGET'), true)));
        break;
      case 0x63: {
        // GLOBAL
        const module = line();
        push(resolveGlobal(module, line()));
        break;
      }
      case 0x93: {
        // STACK_GLOBAL
        const name = pop();
        const module = pop();
        if (typeof module !== 'string' || typeof name !== 'string') throw invalid('STACK_GLOBAL needs two strings');
        push(resolveGlobal(module, name));
        break;
      }
      case 0x52: {
        // REDUCE
        const args = pop();
        const callable = pop();
        if (!(callable instanceof PickleGlobal)) throw invalid('REDUCE calls something that is not an allow-listed global');
        if (!Array.isArray(args)) throw invalid(`REDUCE passes ${callable.qualifiedName} arguments that are not a tuple`);
        const builder = options.globals.get(callable.qualifiedName);
        if (builder === null || builder === undefined) throw invalid(`${callable.qualifiedName} is not callable`);
        push(builder(args));
        break;
      }
      case 0x62: {
        // BUILD
        const state = pop();
        // torch.save's OrderedDict carries its `_metadata` (module versions) as BUILD state; the
        // weights do not depend on it, so it is checked for shape and dropped.
        if (!(top() instanceof Map) || !(state instanceof Map)) throw invalid('BUILD is only supported for dict state on a dict');
        break;
      }
      case 0x51: {
        // BINPERSID
        if (options.persistentLoad === undefined) throw invalid('BINPERSID appears where no persistent ids are expected');
        push(options.persistentLoad(pop()));
        break;
      }
      default: {
        const name = OPCODE_NAMES[op];
        throw invalid(
          `opcode 0x${op.toString(16).padStart(2, '0')}${name === undefined ? ' (not a pickle opcode)' : ` (${name})`} is not supported in a state_dict checkpoint`,
        );
      }
    }
  }
}
