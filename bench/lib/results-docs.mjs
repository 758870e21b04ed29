// The documentation's benchmark figures, made from bench/results.md and nothing else: `npm run bench` writes them
// into docs/benchmarks.md, docs/models.md (the architectures table) and the README after each run (run.mjs; the
// architectures table also after `node bench/architectures.mjs` alone), and test/unit/bench-docs.test.ts keeps the committed
// pages equal to what this module makes of the committed results. No figure of a run is ever typed by hand.
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { replaceSection, sectionOf } from '../../scripts/doc-sections.mjs';

/**
 * bench/results.md ends with the architectures table (bench/architectures.mjs) under this heading, between
 * `<!-- bench:architectures -->` markers, so that a run of that section alone can rewrite it and leave the rest.
 */
export const ARCHITECTURES_HEADING = '## Architectures';
export const ARCHITECTURES_SECTION = 'bench:architectures';

/** The rows the reference system's own table reported, in its order, then the memory floor under any server. */
const HEADLINE_ROWS = [
  'per-image inference, mean',
  'per-image inference, p50',
  'preprocess 640x480.jpg, mean',
  'HTTP 640x480.jpg, mean',
  'HTTP 640x480.jpg, p50',
  'HTTP 4000x3000.jpg, mean',
  'server CPU time per request (all images)',
  'classifier load alone',
  'process start → /readyz 200',
  'server RSS when ready (idle)',
  'RSS growth under 5 concurrent (max − before)',
  'soak: peak RSS after 1,000 mixed requests (VmHWM)',
  'Node + ONNX Runtime session alone, after 20 runs (VmHWM)',
  '1 clients: throughput (higher is better)',
  '16 clients: throughput (higher is better)',
  '64 clients: throughput (higher is better)',
  'OIP overhead over /predict (p50)',
  'OIP batch of 8, per image',
];

/** The page's on-device mode in Chromium, measured in the same run. */
const ON_DEVICE_PREFIX = 'on-device';

/**
 * Reads bench/results.md as run.mjs writes it: the bullets above the table (the run's context), the table, and the
 * bullets below it (targets and kernel ratios).
 * @returns {{ context: string[], header: string[], rows: string[][], notes: string[] }}
 */
export function parseResults(markdown) {
  // The architectures section has its own table and bullets: they are not the main table's notes.
  const lines = markdown.split(`\n${ARCHITECTURES_HEADING}\n`)[0].split('\n');
  const tableStart = lines.findIndex((line) => line.startsWith('| metric |'));
  if (tableStart < 0) throw new Error('bench/results.md has no results table (a "| metric |" header row)');
  const cells = (line) =>
    line
      .slice(1, -1)
      .split(' | ')
      .map((cell) => cell.trim());
  let tableEnd = tableStart + 2;
  while (lines[tableEnd]?.startsWith('|')) tableEnd++;
  const bullets = (part) => part.filter((line) => line.startsWith('- ')).map((line) => line.slice(2));
  return {
    context: bullets(lines.slice(0, tableStart)),
    header: cells(lines[tableStart]),
    rows: lines.slice(tableStart + 2, tableEnd).map(cells),
    notes: bullets(lines.slice(tableEnd)),
  };
}

const tableRow = (cells) => `| ${cells.join(' | ')} |`;

function table(header, rows) {
  return [tableRow(header), tableRow(header.map((_, i) => (i < 2 ? '---' : '---:'))), ...rows.map(tableRow)].join('\n');
}

/** A context bullet by its label (`CPU: …` → `…`), or undefined. */
function contextValue(results, label) {
  return results.context.find((line) => line.startsWith(`${label}: `))?.slice(label.length + 2);
}

/** The CPU as the README names it: model, cores and memory, without the SIMD flags. */
function cpuOf(results) {
  return (contextValue(results, 'CPU') ?? 'an unnamed CPU').split(';')[0];
}

/** Total failed requests per column, over every "failed requests" row. */
function failedTotals(results) {
  const failed = results.rows.filter((row) => row[0].endsWith('failed requests'));
  return results.header.slice(2).flatMap((label, i) => {
    if (label.includes(' / ')) return [];
    const values = failed.map((row) => Number(row[i + 2])).filter((value) => !Number.isNaN(value));
    return values.length === 0 ? [] : [`${values.reduce((a, b) => a + b, 0)} (${label})`];
  });
}

/** docs/benchmarks.md's "The last run" section. */
export function benchmarksSection(markdown) {
  const results = parseResults(markdown);
  const byLabel = new Map(results.rows.map((row) => [row[0], row]));
  const headline = HEADLINE_ROWS.flatMap((label) => (byLabel.has(label) ? [byLabel.get(label)] : []));
  const onDevice = results.rows.filter((row) => row[0].startsWith(ON_DEVICE_PREFIX));
  // The baseline has no page: on-device rows show our columns only.
  const ours = results.header.flatMap((label, i) => (i < 2 || (label.startsWith('ours ') && !label.includes(' / ')) ? [i] : []));
  const pick = (cells) => ours.map((i) => cells[i]);
  const hasBaseline = results.header.some((label) => label.includes(' / '));
  const failed = failedTotals(results);
  return [
    `From [bench/results.md](../bench/results.md), which has every row of the run:`,
    '',
    ...results.context.filter((line) => !line.startsWith('settings: ')).map((line) => `- ${line}`),
    '',
    table(results.header, headline),
    '',
    ...(hasBaseline ? ['Ratios are ours ÷ PyTorch: below 1 is better, except for throughput.', ''] : []),
    ...(failed.length > 0 ? [`Failed requests over the whole run: ${failed.join(', ')}.`, ''] : []),
    ...(onDevice.length > 0
      ? [
          'The page’s on-device mode (headless Chromium on the same machine, 640×480 JPEG):',
          '',
          table(pick(results.header), onDevice.map(pick)),
          '',
        ]
      : []),
    ...results.notes.map((line) => `- ${line}`),
  ].join('\n');
}

/** The README's one paragraph of figures: a few ratios of the last run, with the CPU named. */
export function readmeHeadline(markdown) {
  const results = parseResults(markdown);
  const cpu = cpuOf(results);
  const ratioColumns = results.header.flatMap((label, i) => (label.includes(' / ') ? [i] : []));
  const row = (label) => results.rows.find((r) => r[0] === label);
  if (ratioColumns.length === 0) {
    return `Measured by \`npm run bench\` on ${cpu}, without the PyTorch baseline: [docs/benchmarks.md](docs/benchmarks.md).`;
  }
  const precisions = ratioColumns.map((i) => results.header[i].split(' / ')[0].replace('ours ', ''));
  const pair = (label, suffix = '') => {
    const cells = row(label);
    return cells === undefined ? 'n/a' : ratioColumns.map((i) => `${cells[i]}${suffix}`).join(' / ');
  };
  return [
    `Measured by \`npm run bench\` on ${cpu}, in one run against a PyTorch reference (Flask, TorchScript, OpenCV) on the`,
    `same machine and checkpoint, ours ÷ PyTorch (${precisions.join(' / ')}): inference per image ${pair('per-image inference, mean')},`,
    `HTTP per 640×480 JPEG ${pair('HTTP 640x480.jpg, mean')}, memory when ready ${pair('server RSS when ready (idle)')}; throughput with`,
    `16 clients ${pair('16 clients: throughput (higher is better)', '×')}. Method and every figure: [docs/benchmarks.md](docs/benchmarks.md).`,
  ].join('\n');
}

/** docs/models.md's "Architectures measured" section: bench/results.md's architectures section as it stands. */
export function architecturesSection(markdown) {
  const section = sectionOf(markdown, ARCHITECTURES_SECTION);
  if (section === undefined) return 'Not measured yet: `node bench/architectures.mjs` (or `npm run bench`) writes this table.';
  return [`From [bench/results.md](../bench/results.md), "Architectures":`, '', section.replace(/^Written by [^\n]*\n\n/, '')].join('\n');
}

/** The README's columns of the architectures table: what to pick a model by. */
const README_ARCHITECTURE_COLUMNS = [
  'architecture',
  'precision',
  'top-1 (card, %)',
  'GFLOPs (card)',
  'weights (MB)',
  'inference p50 (ms)',
  'ours ÷ PyTorch',
  'HTTP p50 (ms)',
  'server peak RSS (MB)',
];

/** The README's architectures table: a few columns of bench/results.md's, with the CPU and date of the run. */
export function readmeArchitectures(markdown) {
  const section = sectionOf(markdown, ARCHITECTURES_SECTION);
  if (section === undefined) return 'Not measured yet: `npm run bench` writes this table.';
  const lines = section.split('\n');
  const cells = (line) => line.slice(2, -2).split(' | ');
  const [headerLine, , ...rowLines] = lines.filter((line) => line.startsWith('| '));
  const header = cells(headerLine ?? '');
  const picks = README_ARCHITECTURE_COLUMNS.map((label) => header.indexOf(label));
  if (picks.includes(-1)) throw new Error(`bench/results.md's architectures table lacks ${README_ARCHITECTURE_COLUMNS[picks.indexOf(-1)]}`);
  const bullet = (prefix) => lines.find((line) => line.startsWith(`- ${prefix}`))?.slice(2 + prefix.length) ?? 'unknown';
  const cpu = bullet('CPU: ').split(';')[0];
  const date = bullet('date: ').slice(0, 10);
  return [
    `Measured by \`npm run bench\` on ${cpu} (${date}), PyTorch running TorchVision's module on the same synthetic weights in the same run; top-1 and GFLOPs are the model cards'. Every column: [docs/models.md](docs/models.md#architectures-measured-speed-memory-and-size).`,
    '',
    table(
      picks.map((i) => header[i]),
      rowLines.map(cells).map((row) => picks.map((i) => row[i])),
    ),
  ].join('\n');
}

/** The pages that quote bench/results.md, and the section (scripts/doc-sections.mjs) each quotes it in. */
export const QUOTING_PAGES = [
  { path: 'docs/benchmarks.md', section: 'bench:results', make: benchmarksSection },
  { path: 'README.md', section: 'bench:headline', make: readmeHeadline },
  { path: 'docs/models.md', section: ARCHITECTURES_SECTION, make: architecturesSection },
  { path: 'README.md', section: ARCHITECTURES_SECTION, make: readmeArchitectures },
];

/** Rewrites every quoting page from `markdown` (bench/results.md's text). */
export async function writeBenchmarkDocs(root, markdown, pages = QUOTING_PAGES) {
  for (const page of pages) {
    const path = join(root, page.path);
    await writeFile(path, replaceSection(await readFile(path, 'utf8'), page.section, page.make(markdown)));
  }
}

/** Rewrites only the pages that quote the architectures section (after `node bench/architectures.mjs` alone). */
export async function writeArchitecturesDocs(root, markdown) {
  await writeBenchmarkDocs(
    root,
    markdown,
    QUOTING_PAGES.filter((page) => page.section === ARCHITECTURES_SECTION),
  );
}
