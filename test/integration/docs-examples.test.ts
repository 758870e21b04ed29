/**
 * Every example of output in README.md and docs/*.md is real output. An example is marked by an HTML comment,
 * `<!-- example: NAME -->`, before its command's fenced block and again before its output's; this test runs each
 * command as written (in bash, from the repository's root), against a real server on 127.0.0.1 started as the pages
 * say (`npm start -- --weights test/fixtures/model/tiny-resnet18.pth`), and compares what it prints with the page:
 * JSON by its shape (the same keys in the same order, the same types and array lengths, strings with their digits
 * masked, `code` and `error` exactly, probabilities within 1e-4), text line by line with its numbers masked.
 *
 * Two substitutions only: a command line's `resnet-serve` runs the built `node dist/cli.js` (what `npm link` puts on
 * the PATH as `resnet-serve`), and
 * `http://127.0.0.1:8080` is the test server's address. With RESNET_SERVE_UPDATE_DOCS=1 the test writes the real
 * output into the pages instead of comparing (then review the diff).
 */
import { execFile } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI, type CliProcess, startCli } from '../helpers/cli-process.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const SERVER_START = 'npm start -- --weights test/fixtures/model/tiny-resnet18.pth';
const SERVER_ARGV = ['serve', '--weights', 'test/fixtures/model/tiny-resnet18.pth'];
const DOCUMENTED_URL = 'http://127.0.0.1:8080';
const UPDATE = process.env.RESNET_SERVE_UPDATE_DOCS === '1';
/** String fields compared exactly: what programs branch on. */
const EXACT_KEYS: ReadonlySet<string> = new Set(['code', 'error']);
const PROBABILITY_TOLERANCE = 1e-4;

interface Block {
  /** The line index of the fence's opening, in the page. */
  start: number;
  /** The line index of the closing fence. */
  end: number;
  lang: string;
  text: string;
}

interface Example {
  page: string;
  name: string;
  command: Block;
  output: Block;
}

const pages = (): string[] => [
  'README.md',
  ...readdirSync(join(ROOT, 'docs'))
    .filter((name) => name.endsWith('.md'))
    .sort()
    .map((name) => `docs/${name}`),
];

/** The marked examples of one page: each name's first block is its command, its second the output. */
function examplesOf(page: string): Example[] {
  const lines = readFileSync(join(ROOT, page), 'utf8').split('\n');
  const blocks = new Map<string, Block[]>();
  for (let i = 0; i < lines.length; i++) {
    const marker = /^<!-- example: ([a-z0-9-]+) -->$/.exec(lines[i]!);
    if (marker === null) continue;
    const open = /^```(\w*)$/.exec(lines[i + 1] ?? '');
    if (open === null) throw new Error(`${page}:${i + 1}: <!-- example: ${marker[1]} --> is not followed by a fenced block`);
    const end = lines.findIndex((line, j) => j > i + 1 && line === '```');
    if (end < 0) throw new Error(`${page}:${i + 2}: the fenced block never closes`);
    const list = blocks.get(marker[1]!) ?? [];
    list.push({ start: i + 1, end, lang: open[1]!, text: lines.slice(i + 2, end).join('\n') });
    blocks.set(marker[1]!, list);
  }
  return [...blocks].map(([name, list]) => {
    if (list.length !== 2) throw new Error(`${page}: example ${name} has ${list.length} blocks, not a command and its output`);
    return { page, name, command: list[0]!, output: list[1]! };
  });
}

function runCommand(command: string, url: string, home: string): Promise<string> {
  const script = command
    .replaceAll(/^resnet-serve(?= )/gm, `${JSON.stringify(process.execPath)} ${JSON.stringify(CLI)}`)
    .replaceAll(DOCUMENTED_URL, url);
  return new Promise((resolve, reject) => {
    execFile(
      'bash',
      ['-c', script],
      { cwd: ROOT, env: { ...process.env, RESNET_SERVE_HOME: home }, timeout: 60_000, maxBuffer: 16 * 1024 * 1024 },
      (error, stdout, stderr) => {
        // classify exits 1 when a file fails, as its example shows: what counts is what it printed.
        if (error !== null && stdout === '') reject(new Error(`${command}\nfailed: ${error.message}\n${stderr}`));
        else resolve(stdout.replace(/\n$/, ''));
      },
    );
  });
}

const skeleton = (text: string): string => text.replace(/\d+/g, '#');

/** The differences between a documented JSON value and the real one, as paths; empty when they agree in shape. */
function shapeDifferences(documented: unknown, real: unknown, path = '$', key = ''): string[] {
  const kind = (value: unknown): string => (Array.isArray(value) ? 'array' : value === null ? 'null' : typeof value);
  if (kind(documented) !== kind(real)) return [`${path}: documented ${kind(documented)}, real ${kind(real)}`];
  if (Array.isArray(documented) && Array.isArray(real)) {
    if (documented.length !== real.length) return [`${path}: documented ${documented.length} elements, real ${real.length}`];
    return documented.flatMap((element, i) => shapeDifferences(element, real[i], `${path}[${i}]`, key));
  }
  if (kind(documented) === 'object') {
    const doc = documented as Record<string, unknown>;
    const act = real as Record<string, unknown>;
    const keys = [Object.keys(doc), Object.keys(act)].map((list) => list.join(','));
    if (keys[0] !== keys[1]) return [`${path}: documented keys ${keys[0]}, real ${keys[1]}`];
    return Object.keys(doc).flatMap((name) => shapeDifferences(doc[name], act[name], `${path}.${name}`, name));
  }
  if (typeof documented === 'string' && typeof real === 'string') {
    const same = EXACT_KEYS.has(key) ? documented === real : skeleton(documented) === skeleton(real);
    return same ? [] : [`${path}: documented ${JSON.stringify(documented)}, real ${JSON.stringify(real)}`];
  }
  if (key === 'probability' && Math.abs((documented as number) - (real as number)) > PROBABILITY_TOLERANCE) {
    return [`${path}: documented ${documented}, real ${real}`];
  }
  return [];
}

/** Text output: the same lines, numbers masked and runs of spaces (column alignment) collapsed. */
const textShape = (text: string): string[] => text.split('\n').map((line) => skeleton(line).replace(/ +/g, ' '));

const EXAMPLES = pages().flatMap(examplesOf);

let home: string;
let server: CliProcess;
let url: string;

beforeAll(async () => {
  if (!existsSync('/usr/bin/curl') && process.env.CI === 'true') throw new Error('CI must have curl: the docs examples run it.');
  home = await mkdtemp(join(tmpdir(), 'resnet-serve-docs-'));
  server = startCli([CLI, ...SERVER_ARGV, '--host', '127.0.0.1', '--port', '0'], { ...process.env, RESNET_SERVE_HOME: home } as Record<
    string,
    string
  >);
  url = await server.url;
  for (let i = 0; i < 100 && (await fetch(`${url}/readyz`)).status !== 200; i++) await new Promise((r) => setTimeout(r, 100));
}, 120_000);

afterAll(async () => {
  if (server !== undefined && server.child.exitCode === null) {
    server.child.kill('SIGTERM');
    await server.exited;
  }
  if (home !== undefined) await rm(home, { recursive: true, force: true });
});

describe('the documentation’s examples', () => {
  it('cover the CLI’s table and JSON, /predict, a refusal, the OIP metadata and inference, and TorchServe', () => {
    const names = new Set(EXAMPLES.map((example) => example.name));
    for (const name of [
      'classify-table',
      'classify-json',
      'predict',
      'predict-not-an-image',
      'oip-model-metadata',
      'oip-infer',
      'torchserve-predictions',
    ]) {
      expect(names, name).toContain(name);
    }
    expect(EXAMPLES.filter((example) => example.page === 'README.md').length).toBeGreaterThanOrEqual(4);
  });

  it('start their server as the pages say', () => {
    for (const page of new Set(EXAMPLES.filter((example) => example.command.text.includes(DOCUMENTED_URL)).map((e) => e.page))) {
      expect([page, readFileSync(join(ROOT, page), 'utf8').includes(SERVER_START)]).toEqual([page, true]);
    }
  });

  it.each(EXAMPLES.map((example) => [`${example.page} ${example.name}`, example] as const))(
    '%s prints what the page shows',
    { timeout: 90_000 },
    async (_, example) => {
      expect(example.command.lang).toBe('sh');
      const real = await runCommand(example.command.text, url, home);
      if (UPDATE) {
        // Read the page again: an earlier update may have moved its lines.
        const path = join(ROOT, example.page);
        const lines = readFileSync(path, 'utf8').split('\n');
        const { output } = examplesOf(example.page).find((fresh) => fresh.name === example.name)!;
        lines.splice(output.start + 1, output.end - output.start - 1, real);
        writeFileSync(path, lines.join('\n'));
        return;
      }
      if (example.output.lang === 'json') {
        expect(shapeDifferences(JSON.parse(example.output.text), JSON.parse(real))).toEqual([]);
      } else {
        expect(textShape(real)).toEqual(textShape(example.output.text));
      }
    },
  );
});

describe('the shape comparison', () => {
  it('tells a wrong key, a wrong length, a wrong code, a rounded probability and a changed number format apart', () => {
    const real = { predictions: [{ index: 5, probability: 0.6594188950816416 }], code: 'UNSUPPORTED_MEDIA_TYPE', data: ['0.659419:5'] };
    expect(shapeDifferences(structuredClone(real), real)).toEqual([]);
    expect(shapeDifferences({ ...real, predictions: [{ index: 5, prob: 0.66 }] }, real)).toHaveLength(1);
    expect(shapeDifferences({ ...real, predictions: [] }, real)).toEqual(['$.predictions: documented 0 elements, real 1']);
    expect(shapeDifferences({ ...real, code: 'FILE_TOO_LARGE' }, real)).toHaveLength(1);
    expect(shapeDifferences({ ...real, predictions: [{ index: 5, probability: 0.71 }] }, real)).toHaveLength(1);
    expect(shapeDifferences({ ...real, data: ['0.66:5'] }, real)).toEqual([]);
    expect(shapeDifferences({ ...real, data: ['0.659419:5:tabby'] }, real)).toHaveLength(1);
    expect(textShape('  1. class_5   65.9%  (5)')).toEqual(textShape('  1. class_3 8.7%  (3)'));
    expect(textShape('  1. class_5   65.9%')).not.toEqual(textShape('  1. class_5   65.9%  (5)'));
  });
});
