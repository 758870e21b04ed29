import { execFileSync } from 'node:child_process';
import { afterEach, describe, expect, test, vi } from 'vitest';
import { createServerMetrics } from '../../src/server/metrics.js';
import { exhaustionCode, openFiles, skipIfExhausted } from '../../src/server/resource-exhaustion.js';

/** What libuv throws when the descriptors ran out (the issue's: process.memoryUsage() under fd exhaustion). */
const emfile = (): NodeJS.ErrnoException =>
  Object.assign(new Error('EMFILE: too many open files, uv_resident_set_memory'), {
    code: 'EMFILE',
    errno: -24,
    syscall: 'uv_resident_set_memory',
  });

afterEach(() => vi.restoreAllMocks());

describe('a sample that runs out of descriptors or memory', () => {
  test('is skipped and reported with its source and errno; any other error is thrown on', () => {
    const report = vi.fn();
    expect(
      skipIfExhausted('rss sampler', report, () => {
        throw emfile();
      }),
    ).toBeUndefined();
    expect(report).toHaveBeenCalledWith('rss sampler', 'EMFILE', expect.objectContaining({ syscall: 'uv_resident_set_memory' }));
    expect(skipIfExhausted('x', report, () => 7)).toBe(7);
    expect(() =>
      skipIfExhausted('x', report, () => {
        throw new TypeError('a bug');
      }),
    ).toThrow(TypeError);
    expect(['EMFILE', 'ENFILE', 'ENOMEM', 'EACCES'].map((code) => exhaustionCode(Object.assign(new Error(), { code })))).toEqual([
      'EMFILE',
      'ENFILE',
      'ENOMEM',
      undefined,
    ]);
  });

  test('a default metric whose collector throws EMFILE is skipped, counted and logged; the scrape still succeeds', async () => {
    const metrics = createServerMetrics();
    const warn = vi.fn();
    const stop = metrics.logExhaustion({ warn });
    vi.spyOn(process, 'cpuUsage').mockImplementation(() => {
      throw emfile();
    });
    const text = await metrics.registry.metrics();
    stop();
    metrics.clear();
    expect(text).toMatch(/^resnet_resource_exhausted_total\{source="process_cpu_user_seconds_total",errno="EMFILE"\} [1-9]/m);
    expect(text).toMatch(/^process_resident_memory_bytes /m);
    expect(warn).toHaveBeenCalledWith(
      expect.objectContaining({ event: 'resource_exhausted', source: 'process_cpu_user_seconds_total', errno: 'EMFILE' }),
      expect.stringContaining('out of file descriptors'),
    );
  });
});

test("the open-files limit is this process's `ulimit -n`", () => {
  const files = openFiles();
  const shell = execFileSync('sh', ['-c', 'ulimit -n'], { encoding: 'utf8' }).trim();
  expect(files?.limit).toBe(shell === 'unlimited' ? Number.POSITIVE_INFINITY : Number(shell));
  expect(files?.open).toBeGreaterThan(2);
});
