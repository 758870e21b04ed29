import { existsSync, readFileSync, rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { readPth } from '../../src/weights/pth.js';
import type { StateDict } from '../../src/weights/types.js';
import { failure } from '../helpers/errors.js';

const fixture = (name: string): Uint8Array =>
  new Uint8Array(readFileSync(fileURLToPath(new URL(`../fixtures/weights/${name}`, import.meta.url))));
const expected = JSON.parse(new TextDecoder().decode(fixture('small-expected.json'))) as Record<
  string,
  { dtype: string; shape: number[]; values: (number | string)[] }
>;
const markers = JSON.parse(new TextDecoder().decode(fixture('markers.json'))) as { markerOsSystem: string; markerEval: string };

/** Compares with PyTorch's own reading of the same file, value by value, exactly. */
function expectMatchesPyTorch(stateDict: StateDict): void {
  expect([...stateDict.keys()]).toEqual(Object.keys(expected));
  for (const [name, want] of Object.entries(expected)) {
    const got = stateDict.get(name)!;
    expect({ name, dtype: got.dtype, shape: got.shape }).toEqual({ name, dtype: want.dtype, shape: want.shape });
    const values = Array.from(got.data as ArrayLike<number | bigint>, (v) => (typeof v === 'bigint' ? v.toString() : v));
    expect(values, name).toEqual(want.values);
  }
}

describe('readPth', () => {
  it('reads a zip-format torch.save state_dict exactly as PyTorch does', () => {
    expectMatchesPyTorch(readPth(fixture('small-zip.pth')));
  });

  it('reads a legacy-format (_use_new_zipfile_serialization=False) state_dict exactly as PyTorch does', () => {
    expectMatchesPyTorch(readPth(fixture('small-legacy.pth')));
  });

  it('reads a zip whose entries are deflated', () => {
    expectMatchesPyTorch(readPth(fixture('small-deflated.pth')));
  });

  it('unwraps a checkpoint holding the state_dict under "state_dict"', () => {
    expectMatchesPyTorch(readPth(fixture('small-wrapped.pth')));
  });

  it('keeps int64 num_batches_tracked as a scalar of shape []', () => {
    const tensor = readPth(fixture('small-zip.pth')).get('bn1.num_batches_tracked')!;
    expect(tensor.shape).toEqual([]);
    expect(tensor.data).toEqual(new BigInt64Array([123456789012n]));
  });

  it('refuses a pickle calling os.system with CHECKPOINT_UNSAFE naming posix.system, and runs nothing', () => {
    rmSync(markers.markerOsSystem, { force: true });
    const outcome = failure(() => readPth(fixture('malicious-os-system.pth')));
    expect(outcome).toMatch(/^CHECKPOINT_UNSAFE: .*posix\.system/);
    expect(existsSync(markers.markerOsSystem)).toBe(false);
  });

  it('refuses a pickle calling builtins.eval with CHECKPOINT_UNSAFE naming it, and runs nothing', () => {
    rmSync(markers.markerEval, { force: true });
    const outcome = failure(() => readPth(fixture('malicious-eval.pth')));
    expect(outcome).toMatch(/^CHECKPOINT_UNSAFE: .*builtins\.eval/);
    expect(existsSync(markers.markerEval)).toBe(false);
  });

  it('fails on a truncated data.pkl with CHECKPOINT_INVALID', () => {
    expect(failure(() => readPth(fixture('truncated-pkl.pth')))).toMatch(/^CHECKPOINT_INVALID: /);
  });

  it('fails on a legacy file cut short inside its storages with CHECKPOINT_INVALID', () => {
    const bytes = fixture('small-legacy.pth');
    expect(failure(() => readPth(bytes.subarray(0, bytes.byteLength - 10)))).toMatch(/^CHECKPOINT_INVALID: .*truncated/);
  });

  it('fails on a zip archive cut in half with CHECKPOINT_INVALID', () => {
    const bytes = fixture('small-zip.pth');
    expect(failure(() => readPth(bytes.subarray(0, bytes.byteLength >> 1)))).toMatch(/^CHECKPOINT_INVALID: /);
  });

  it('fails on garbage with CHECKPOINT_INVALID', () => {
    expect(failure(() => readPth(new TextEncoder().encode('definitely not a checkpoint')))).toMatch(/^CHECKPOINT_INVALID: /);
  });
});
