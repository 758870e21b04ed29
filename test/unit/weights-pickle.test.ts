import { describe, expect, it } from 'vitest';
import { type PickleBuilder, type UnpickleOptions, unpickle } from '../../src/weights/pickle.js';
import { thrownError } from '../helpers/errors.js';

const NOTHING: UnpickleOptions<never> = { globals: new Map<string, PickleBuilder<never>>() };

function pickle(...parts: (number[] | string)[]): Uint8Array {
  return new Uint8Array(Buffer.concat(parts.map((part) => (typeof part === 'string' ? Buffer.from(part, 'latin1') : Buffer.from(part)))));
}

const failure = thrownError;

describe('unpickle', () => {
  it('builds dicts, lists, tuples, ints, floats and strings the way pickle protocol 2 encodes them', () => {
    // pickle.dumps({'a': [1, -2, 3.5], 'b': (True, None), 'c': 2**70}, protocol=2), memo ops included.
    const bytes = pickle(
      [0x80, 2],
      '}q\x00(X\x01\x00\x00\x00aq\x01]q\x02(K\x01J\xfe\xff\xff\xffG@\x0c\x00\x00\x00\x00\x00\x00e',
      'X\x01\x00\x00\x00bq\x03\x88N\x86q\x04X\x01\x00\x00\x00cq\x05\x8a\x09\x00\x00\x00\x00\x00\x00\x00\x00\x40u.',
    );
    const { value, end } = unpickle(bytes, NOTHING);
    expect(end).toBe(bytes.length);
    expect(value).toEqual(
      new Map<string, unknown>([
        ['a', [1, -2, 3.5]],
        ['b', [true, null]],
        ['c', 2n ** 70n],
      ]),
    );
  });

  it('refuses os.system written with STACK_GLOBAL (protocol 4) as CHECKPOINT_UNSAFE naming it', () => {
    const bytes = pickle([0x80, 4], '\x8c\x02os\x8c\x06system\x93\x8c\x04true\x85R.');
    const { code, message } = failure(() => unpickle(bytes, NOTHING));
    expect(code).toBe('CHECKPOINT_UNSAFE');
    expect(message).toContain('os.system');
  });

  it('reports a Python 2 module name under its Python 3 name, like CPython fix_imports', () => {
    const { code, message } = failure(() => unpickle(pickle([0x80, 2], 'c__builtin__\nexec\n.'), NOTHING));
    expect(code).toBe('CHECKPOINT_UNSAFE');
    expect(message).toContain('builtins.exec');
  });

  it('fails on an unsupported opcode with CHECKPOINT_INVALID naming it', () => {
    const { code, message } = failure(() => unpickle(pickle([0x80, 2], ')', [0x81], '.'), NOTHING));
    expect(code).toBe('CHECKPOINT_INVALID');
    expect(message).toContain('NEWOBJ');
  });

  it('fails fast on deeply nested MARKs with CHECKPOINT_INVALID', () => {
    const { code, message } = failure(() => unpickle(pickle([0x80, 2], '('.repeat(1_000_000), '.'), NOTHING));
    expect(code).toBe('CHECKPOINT_INVALID');
    expect(message).toMatch(/MARKs nest deeper/);
  });

  it('fails fast on a string declaring 4 GiB with CHECKPOINT_INVALID', () => {
    const { code, message } = failure(() => unpickle(pickle([0x80, 2], 'X\xf0\xff\xff\xffabc.'), NOTHING));
    expect(code).toBe('CHECKPOINT_INVALID');
    expect(message).toMatch(/exceeds/);
  });

  it('fails on a string longer than the bytes left with CHECKPOINT_INVALID', () => {
    expect(failure(() => unpickle(pickle([0x80, 2], 'X\x00\x01\x00\x00abc.'), NOTHING)).code).toBe('CHECKPOINT_INVALID');
  });

  it('fails fast on a 2 GiB LONG4 with CHECKPOINT_INVALID', () => {
    expect(failure(() => unpickle(pickle([0x80, 2], '\x8b\x00\x00\x00\x80.'), NOTHING)).code).toBe('CHECKPOINT_INVALID');
  });

  it('fails when the stack outgrows its limit with CHECKPOINT_INVALID', () => {
    const bytes = pickle([0x80, 2], 'N'.repeat(1000), '.');
    const { code, message } = failure(() => unpickle(bytes, { ...NOTHING, limits: { maxStack: 100 } }));
    expect(code).toBe('CHECKPOINT_INVALID');
    expect(message).toMatch(/stack exceeds 100/);
  });

  it('fails when the operation budget runs out with CHECKPOINT_INVALID', () => {
    const bytes = pickle([0x80, 2], ']', 'N'.repeat(500), '.');
    expect(failure(() => unpickle(bytes, { ...NOTHING, limits: { maxOps: 50 } })).code).toBe('CHECKPOINT_INVALID');
  });

  it('fails when the memo outgrows its limit with CHECKPOINT_INVALID', () => {
    const bytes = pickle([0x80, 2], 'N', 'q\x00q\x01q\x02q\x03', '.');
    expect(failure(() => unpickle(bytes, { ...NOTHING, limits: { maxMemo: 2 } })).message).toMatch(/memo exceeds/);
  });

  it('fails on reading a memo slot never written with CHECKPOINT_INVALID', () => {
    expect(failure(() => unpickle(pickle([0x80, 2], 'h\x07.'), NOTHING)).code).toBe('CHECKPOINT_INVALID');
  });

  it('fails when REDUCE targets something other than an allow-listed global with CHECKPOINT_INVALID', () => {
    expect(failure(() => unpickle(pickle([0x80, 2], 'N)R.'), NOTHING)).code).toBe('CHECKPOINT_INVALID');
  });

  it('fails on a pickle without STOP with CHECKPOINT_INVALID', () => {
    expect(failure(() => unpickle(pickle([0x80, 2], 'N'), NOTHING)).message).toMatch(/truncated/);
  });

  it('calls only the builder the allow-list maps the global to', () => {
    const calls: unknown[] = [];
    const globals = new Map<string, PickleBuilder<never>>([
      [
        'm.f',
        (args) => {
          calls.push(args);
          return 'built';
        },
      ],
    ]);
    const { value } = unpickle(pickle([0x80, 2], 'cm\nf\nK\x05\x85R.'), { globals });
    expect(value).toBe('built');
    expect(calls).toEqual([[5]]);
  });
});
