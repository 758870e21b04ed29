import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { filesAlreadyDone, openJsonl } from '../../src/bulk/jsonl.js';
import { inShard, shardOf } from '../../src/bulk/shard.js';
import { formatBulkProgress } from '../../src/cli/tty.js';
import { thrownError } from '../helpers/errors.js';

describe('shardOf', () => {
  test('K/N, and N alone with K from JOB_COMPLETION_INDEX', () => {
    expect(shardOf('--shard', '2/5', undefined)).toEqual({ index: 2, count: 5 });
    expect(shardOf('--shard', '4', '3')).toEqual({ index: 3, count: 4 });
    // An explicit K wins over the Job's index.
    expect(shardOf('--shard', '0/4', '3')).toEqual({ index: 0, count: 4 });
  });

  test.each([
    ['5/5', undefined],
    ['1/0', undefined],
    ['a/b', undefined],
    ['-1/3', undefined],
    ['3', undefined],
    ['3', 'x'],
    ['3', '3'],
  ])('%s with JOB_COMPLETION_INDEX=%s is INVALID_ARGUMENT', (value, index) => {
    expect(thrownError(() => shardOf('--shard', value, index)).code).toBe('INVALID_ARGUMENT');
  });
});

test('inShard puts every path in exactly one of N shards, whatever N', () => {
  const paths = Array.from({ length: 500 }, (_, i) => `photos/${i % 7}/IMG_${i}.jpg`);
  for (const count of [1, 2, 3, 4, 7]) {
    const sizes = Array.from({ length: count }, (_, index) => paths.filter((p) => inShard(p, { index, count })).length);
    for (const path of paths)
      expect(Array.from({ length: count }, (_, index) => inShard(path, { index, count })).filter(Boolean)).toHaveLength(1);
    // A hash split: roughly even, never empty at this size.
    for (const size of sizes) expect(size).toBeGreaterThan(500 / count / 2);
  }
});

describe('JSON Lines output', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'resnet-serve-jsonl-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  test('a last line cut short by a kill is dropped, so the resumed run appends on a line of its own', async () => {
    const path = join(dir, 'cut.jsonl');
    await writeFile(path, '{"file":"a.jpg","predictions":[]}\n{"file":"b.jpg","error":"x"}\n{"file":"c.jp');
    expect(await filesAlreadyDone(path)).toEqual(new Set(['a.jpg', 'b.jpg']));
    const writer = await openJsonl(path, true);
    await writer.write({ file: 'c.jpg', predictions: [] });
    await writer.close();
    expect((await readFile(path, 'utf8')).split('\n')).toEqual([
      '{"file":"a.jpg","predictions":[]}',
      '{"file":"b.jpg","error":"x"}',
      '{"file":"c.jpg","predictions":[]}',
      '',
    ]);
  });

  test('no output yet: nothing is done; without append a file starts afresh, in a folder made for it', async () => {
    const path = join(dir, 'new', 'out.jsonl');
    expect(await filesAlreadyDone(path)).toEqual(new Set());
    for (const file of ['x.jpg', 'y.jpg']) {
      const writer = await openJsonl(path, false);
      await writer.write({ file });
      await writer.close();
    }
    expect(await readFile(path, 'utf8')).toBe('{"file":"y.jpg"}\n');
  });
});

test('the progress line shows count, share, rate and time left', () => {
  expect(formatBulkProgress(1200, 5000, 40)).toBe('1200/5000  24% [######------------------] 30.0 img/s ETA 2m07s');
  expect(formatBulkProgress(0, 10, 0)).toBe('0/10   0% [------------------------] 0.0 img/s ETA ?');
});
