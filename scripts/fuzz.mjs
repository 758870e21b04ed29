// `npm run fuzz -- [--seconds N] [--target NAME,...] [--seed S] [--no-coverage]` (not part of CI): runs
// test/fuzz/main.ts, whose targets import the TypeScript sources, through the hooks in ts-hooks.mjs.
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const run = spawnSync(
  process.execPath,
  [
    '--enable-source-maps',
    '--import',
    join(root, 'scripts', 'ts-register.mjs'),
    join(root, 'test', 'fuzz', 'main.ts'),
    ...process.argv.slice(2),
  ],
  { cwd: root, stdio: 'inherit' },
);
process.exit(run.status ?? 1);
