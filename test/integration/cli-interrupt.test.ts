/**
 * Ctrl-C and SIGTERM in the middle of a bulk run, sent to a real `resnet-serve classify` process once it has
 * written a few lines (a bounded wait on the file, never a sleep): the run finishes the lines it is on, says how
 * many it wrote and how to continue, exits 130 / 143, and `--resume` then completes the set, every file once.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { convertToOnnx } from '../../src/model/architectures/resnet.js';
import { readStateDict } from '../../src/weights/read.js';
import { CLI, type CliProcess, startCli } from '../helpers/cli-process.js';
import { waitFor } from '../helpers/wait.js';

const TINY_PTH = fileURLToPath(new URL('../fixtures/model/tiny-resnet18.pth', import.meta.url));
/** Enough files that the run is still going when the signal lands a few lines in (≈ 8 s here under load). */
const FILES = 200;
const EXIT_CODES = { SIGINT: 130, SIGTERM: 143 } as const;

let dir: string;
let model: string;
let photos: string;
let paths: string[];

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'resnet-serve-interrupt-'));
  model = join(dir, 'tiny.onnx');
  await writeFile(model, convertToOnnx(readStateDict(await readFile(TINY_PTH))));
  photos = join(dir, 'photos');
  await mkdir(photos);
  const png = await sharp({ create: { width: 64, height: 48, channels: 3, background: '#406080' } })
    .png()
    .toBuffer();
  paths = Array.from({ length: FILES }, (_, i) => join(photos, `p${String(i).padStart(3, '0')}.png`));
  await Promise.all(paths.map((path) => writeFile(path, png)));
}, 60_000);

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

function classify(args: string[]): CliProcess {
  return startCli([CLI, 'classify', '--model', model, ...args], { PATH: process.env.PATH ?? '', RESNET_SERVE_HOME: join(dir, 'home') });
}

async function linesOf(file: string): Promise<string[]> {
  const text = await readFile(file, 'utf8').catch(() => '');
  return text.split('\n').slice(0, -1);
}

/** The exit code, or a failure naming what the process said if it does not exit within `timeoutMs`. */
async function exitCode(cli: CliProcess, timeoutMs = 60_000): Promise<number | null> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no exit within ${timeoutMs} ms:\n${cli.stderr()}`)), timeoutMs);
  });
  try {
    return await Promise.race([cli.exited, timeout]);
  } finally {
    clearTimeout(timer);
    if (cli.child.exitCode === null) cli.child.kill('SIGKILL');
  }
}

describe.each(['SIGINT', 'SIGTERM'] as const)('classify --jsonl interrupted by %s', (signal) => {
  it(`finishes its lines, says how to continue, exits ${EXIT_CODES[signal]}; --resume completes the set`, async () => {
    const out = join(dir, `${signal}.jsonl`);
    const run = classify(['--jsonl', out, photos]);
    await waitFor('5 lines in the output', async () => (await linesOf(out)).length >= 5, 60_000, 25);
    run.child.kill(signal);
    expect(await exitCode(run)).toBe(EXIT_CODES[signal]);

    const note = run.stderr().trimEnd().split('\n').at(-1) ?? '';
    const match = /^Interrupted by (SIG\w+): (\d+) lines? written to (.+), (\d+) files? left; run again with --resume to continue\.$/.exec(
      note,
    );
    expect(match, run.stderr()).not.toBeNull();
    const [, named, written, file, left] = match ?? [];
    expect([named, file]).toEqual([signal, out]);
    // Every line whole: the file ends with a newline and each line is one JSON record.
    const text = await readFile(out, 'utf8');
    expect(text.endsWith('\n')).toBe(true);
    const lines = await linesOf(out);
    expect(lines).toHaveLength(Number(written));
    for (const line of lines) expect(JSON.parse(line)).toHaveProperty('predictions');
    // It stopped early, and counted what it left.
    expect(lines.length).toBeLessThan(FILES);
    expect(lines.length + Number(left)).toBe(FILES);

    const resumed = classify(['--jsonl', out, '--resume', photos]);
    expect(await exitCode(resumed)).toBe(0);
    expect(resumed.stderr()).toContain(`${out}: ${left} lines written (0 errors, ${written} already there)`);
    const files = (await linesOf(out)).map((line) => (JSON.parse(line) as { file: string }).file);
    expect(files).toHaveLength(FILES);
    expect(new Set(files)).toEqual(new Set(paths));
  }, 180_000);
});

describe('a second signal', () => {
  it('ends the process by that signal at once, without the native teardown aborting it', async () => {
    const out = join(dir, 'twice.jsonl');
    const run = classify(['--jsonl', out, photos]);
    await waitFor('5 lines in the output', async () => (await linesOf(out)).length >= 5, 60_000, 25);
    // Again every 10 ms until it ends: signals sent together reach a process as one, and the first alone lets the
    // files in flight (tens of ms) finish.
    const again = setInterval(() => run.child.kill('SIGINT'), 10);
    run.child.kill('SIGINT');
    const code = await exitCode(run).finally(() => clearInterval(again));
    expect(code).toBeNull();
    expect(run.child.signalCode).toBe('SIGINT');
    expect(run.stderr()).not.toMatch(/terminate called|Napi::Error/);
  }, 120_000);
});

describe('classify printing to stdout, interrupted', () => {
  it.each(['SIGINT', 'SIGTERM'] as const)(
    '%s: exits at once with a one-line note and no partial JSON',
    async (signal) => {
      // --explain writes a file per image as it goes: the sign that the run is under way.
      const overlays = join(dir, `cams-${signal}`);
      const run = classify(['--json', '--explain', overlays, photos]);
      const written = async (): Promise<number> =>
        (await readdir(overlays).catch(() => [])).filter((name) => name.endsWith('.cam.png')).length;
      await waitFor('3 overlays written', async () => (await written()) >= 3, 60_000, 25);
      run.child.kill(signal);
      expect(await exitCode(run)).toBe(EXIT_CODES[signal]);
      expect(run.stdout()).toBe('');
      const lines = run.stderr().trimEnd().split('\n');
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatch(
        new RegExp(
          `^Interrupted by ${signal} with \\d+ of ${FILES} files done; nothing printed \\(--jsonl FILE keeps each result as it is done\\)\\.$`,
        ),
      );
      // Far from done: it did not wait for the other files.
      expect(await written()).toBeLessThan(FILES);
    },
    120_000,
  );
});

describe('Ctrl-C on a terminal', () => {
  it('ends the progress line before the note', async () => {
    const out = join(dir, 'terminal.jsonl');
    // `script` gives the command a terminal; a ^C typed into it is the terminal's own SIGINT to the command.
    const command = [CLI, 'classify', '--model', model, '--jsonl', out, photos].map((arg) => `'${arg}'`).join(' ');
    const child = spawn('script', ['-qefc', `'${process.execPath}' ${command}`, '/dev/null'], {
      env: { PATH: process.env.PATH ?? '', RESNET_SERVE_HOME: join(dir, 'home'), TERM: 'dumb' },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let screen = '';
    child.stdout.on('data', (chunk: Buffer) => {
      screen += chunk.toString();
    });
    const exited = once(child, 'close') as Promise<[number | null]>;
    try {
      await waitFor('5 lines in the output', async () => (await linesOf(out)).length >= 5, 60_000, 25);
      child.stdin.write('\x03');
      const [code] = await exited;
      expect(code).toBe(130);
      // The bar redraws with \r; its last drawing ends with a newline (the terminal shows \r\n), then the note.
      expect(screen).toMatch(/\r\d+\/200 +\d+% \[[#-]+\][^\r\n]*\r?\n(\^C)?Interrupted by SIGINT: \d+ lines written to /);
    } finally {
      child.kill('SIGKILL');
    }
  }, 120_000);
});
