/**
 * `--heap-limit`: V8 fixes its heap limit at start-up, so `serve` restarts itself with the flag when Node was
 * not started with it (src/cli/heap-limit.ts). Checked on a real process: the limit V8 reports afterwards.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect, test } from 'vitest';
import { startedHeapLimitMb } from '../../src/cli/heap-limit.js';

const MIB = 1024 * 1024;
const repo = join(import.meta.dirname, '..', '..');

test('the limit Node was started with is read from its flags and NODE_OPTIONS, the last one counting', () => {
  expect(startedHeapLimitMb([], undefined)).toBeUndefined();
  expect(startedHeapLimitMb(['--max-semi-space-size=2', '--max-old-space-size=256'], undefined)).toBe(256);
  expect(startedHeapLimitMb([], '--max_old_space_size=300')).toBe(300);
  expect(startedHeapLimitMb(['--max-old-space-size=128'], '--max-old-space-size=300')).toBe(128);
});

test('a limit Node was not started with restarts the process with it; the exit code comes through', () => {
  const dir = join(repo, 'test', '.tmp');
  mkdirSync(dir, { recursive: true });
  const probe = join(dir, 'heap-probe.mjs');
  writeFileSync(
    probe,
    `import { getHeapStatistics } from 'node:v8';
import { restartWithHeapLimit } from ${JSON.stringify(join(repo, 'dist', 'cli', 'heap-limit.js'))};
const code = await restartWithHeapLimit(Number(process.argv[2]));
if (code === undefined) console.log(JSON.stringify({ limit: getHeapStatistics().heap_size_limit }));
process.exitCode = code ?? 3;
`,
  );
  const limitOf = (mb: number): number => {
    let out = '';
    try {
      execFileSync(process.execPath, [probe, String(mb)], { encoding: 'utf8' });
    } catch (error) {
      const failed = error as { status: number; stdout: string };
      expect(failed.status).toBe(3);
      out = failed.stdout;
    }
    return (JSON.parse(out) as { limit: number }).limit;
  };
  const restarted = limitOf(200);
  // V8 adds the young generation to the old space, and its size differs between Node versions (48 MiB on Node 20,
  // 192 MiB on Node 24 for this old space), so the reference is this Node started with the flag itself.
  const direct = execFileSync(
    process.execPath,
    ['--max-old-space-size=200', '-e', "console.log(require('node:v8').getHeapStatistics().heap_size_limit)"],
    { encoding: 'utf8' },
  );
  expect(restarted).toBe(Number(direct.trim()));
  expect(restarted).toBeGreaterThanOrEqual(200 * MIB);
  expect(limitOf(0)).not.toBe(restarted);
});
