// `npm run docs`: rewrites every generated part of the documentation from its source of truth: docs/limits.md's
// table from the settings table, docs/errors.md's from the error registry (both rendered by dist/cli/usage.js, so
// run after a build), and the benchmark figures of docs/benchmarks.md, docs/models.md and the README from
// bench/results.md (which `npm run bench` also does after each run). The unit tests fail while a page differs from
// what this writes.
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { writeBenchmarkDocs } from '../bench/lib/results-docs.mjs';
import { replaceSection } from './doc-sections.mjs';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const { errorCodesTable, limitsTable } = await import(join(ROOT, 'dist', 'cli', 'usage.js'));

for (const [path, name, content] of [
  ['docs/limits.md', 'generated:limits', limitsTable()],
  ['docs/errors.md', 'generated:errors', errorCodesTable()],
]) {
  const file = join(ROOT, path);
  await writeFile(file, replaceSection(await readFile(file, 'utf8'), name, content));
}
await writeBenchmarkDocs(ROOT, await readFile(join(ROOT, 'bench', 'results.md'), 'utf8'));
console.log('wrote the generated sections of docs/limits.md, docs/errors.md, docs/benchmarks.md, docs/models.md and README.md');
