/**
 * The command line as a new user meets it: each command's own help, usage lines that say what they take,
 * `--print-config` without secrets, operands and flags a command does not take refused by name (with the `npm start --` form under npm), range
 * errors that name the range, and counts in the singular when there is one.
 */
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI } from '../helpers/cli-process.js';
import { syntheticModel } from '../helpers/synthetic-model.js';

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** The built command with `env` on top of a copy of this process's environment without npm's variables. */
function run(args: string[], env: Record<string, string> = {}): Promise<Run> {
  const base = Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith('npm_')));
  return new Promise((resolve) => {
    execFile(process.execPath, [CLI, ...args], { env: { ...base, ...env }, timeout: 60_000 }, (error, stdout, stderr) => {
      resolve({ code: error === null ? 0 : typeof error.code === 'number' ? error.code : 1, stdout, stderr });
    });
  });
}

/** The flags a help text lists at the start of its lines. */
function flagsOf(help: string): string[] {
  return [...help.matchAll(/^ {2}(--[\w-]+)/gm)].map((m) => m[1] ?? '');
}

describe('help', () => {
  it('COMMAND --help lists that command’s flags only, and `help COMMAND` prints the same', async () => {
    const serve = await run(['serve', '--help']);
    expect(serve.code).toBe(0);
    expect(serve.stdout).toMatch(/^resnet-serve serve — /);
    const flags = flagsOf(serve.stdout);
    expect(flags).toEqual(expect.arrayContaining(['--port', '--max-upload', '--api-key', '--model', '--print-config']));
    for (const other of ['--top', '--jsonl', '--out', '--compare', '--lang']) expect(flags).not.toContain(other);
    expect((await run(['help', 'serve'])).stdout).toBe(serve.stdout);

    const classify = flagsOf((await run(['classify', '-h'])).stdout);
    expect(classify).toEqual(expect.arrayContaining(['--top', '--jsonl', '--resume', '--shard', '--explain', '--max-batch']));
    for (const other of ['--port', '--api-key', '--out', '--compare']) expect(classify).not.toContain(other);
    const global = await run(['--help']);
    const everyFlag = [...classify, ...flags].filter((flag) => flag !== '--print-config');
    expect(flagsOf(global.stdout)).toEqual(expect.arrayContaining(everyFlag));
  });

  it('usage lines list folders and the bulk flags', async () => {
    const { stdout } = await run(['--help']);
    const line = stdout.split('\n').find((l) => l.startsWith('  resnet-serve classify')) ?? '';
    for (const part of ['--jsonl FILE', '--resume', '--shard K/N', 'IMAGE|FOLDER...']) expect(line).toContain(part);
  });
});

describe('--print-config', () => {
  it('masks the API key from a flag or a variable, and leaves out its own flags', async () => {
    const text = await run(['serve', '--print-config', '--api-key', 's3cret']);
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(/^--api-key +\*\*\*\* +flag$/m);
    expect(text.stdout).not.toContain('s3cret');
    expect(text.stdout).not.toMatch(/^--json /m);
    expect(text.stdout).not.toMatch(/^--print-config /m);

    const json = await run(['serve', '--print-config', '--json'], { RESNET_SERVE_API_KEY: 's3cret' });
    expect(json.stdout).not.toContain('s3cret');
    const config = JSON.parse(json.stdout) as Record<string, { value: unknown; source: string }>;
    expect(config.apiKey).toEqual({ value: '****', source: 'env RESNET_SERVE_API_KEY' });
    expect(config).not.toHaveProperty('json');
    // Unset, it says so instead of pretending there is one.
    expect(JSON.parse((await run(['serve', '--print-config', '--json'])).stdout).apiKey).toEqual({ value: null, source: 'default' });
  });
});

describe('operands', () => {
  it.each([
    [['serve', 'resnet18.pth', '8080'], 'serve takes no operands; it does not take "resnet18.pth" "8080".'],
    [['fetch', 'x'], 'fetch takes no operands; it does not take "x".'],
    [['convert', '--weights', 'w.pth', '--out', 'm.onnx', 'extra'], 'convert takes no operands; it does not take "extra".'],
    [['eval', 'set-a', 'set-b'], 'eval takes one DIR|LIST.tsv; it does not take "set-b".'],
  ])('%j is refused with exit 2, naming what it does not take', async (args, message) => {
    const { code, stdout, stderr } = await run(args);
    expect(code).toBe(2);
    expect(stdout).toBe('');
    expect(stderr).toContain(message);
    expect(stderr).toContain('[INVALID_ARGUMENT]');
    expect(stderr).not.toContain('npm start');
  });

  it('under `npm start` the message shows the `npm start -- --weights …` form', async () => {
    const { code, stderr } = await run(['serve', 'resnet18.pth'], { npm_lifecycle_event: 'start' });
    expect(code).toBe(2);
    expect(stderr).toContain('it does not take "resnet18.pth"');
    expect(stderr).toContain('npm start -- --weights PATH');
  });

  it('a command that needs operands still asks for them', async () => {
    expect((await run(['classify'])).stderr).toContain('classify needs at least one IMAGE or FOLDER path.');
    expect((await run(['eval'])).stderr).toContain('eval needs exactly one DIR');
  });
});

describe('flags', () => {
  it.each([
    [['classify', '--port', '1', 'cat.jpg'], 'classify does not take --port;'],
    [['fetch', '--top', '3', '--api-key', 'k'], 'fetch does not take --top, --api-key;'],
    [['convert', '--weights', 'w.pth', '--out', 'm.onnx', '--jsonl', 'x'], 'convert does not take --jsonl;'],
    [['serve', '--resume'], 'serve does not take --resume;'],
    // Refused for what it is, before its value is read.
    [['eval', '--max-upload', 'lots', 'set'], 'eval does not take --max-upload;'],
  ])('%j is refused with exit 2, naming the flags it does not take', async (args, message) => {
    const { code, stdout, stderr } = await run(args);
    expect(code).toBe(2);
    expect(stdout).toBe('');
    expect(stderr).toContain(message);
    expect(stderr).toContain(`\`resnet-serve ${args[0]} --help\` lists the flags it takes. [INVALID_ARGUMENT]`);
  });

  it('every command still takes --print-config, and serve its --json', async () => {
    for (const command of ['classify', 'serve', 'convert', 'fetch', 'eval']) {
      const { code, stderr } = await run([command, '--print-config']);
      expect(code, stderr).toBe(0);
    }
    expect((await run(['serve', '--print-config', '--json'])).code).toBe(0);
  });
});

describe('range errors', () => {
  it('name the range and the value received, nothing about its type', async () => {
    const top = await run(['classify', '--top', '50', 'cat.jpg']);
    expect(top.code).toBe(2);
    expect(top.stderr).toContain('Expected an integer from 1 to 20 for --top but received 50 [INVALID_ARGUMENT]');
    const batch = await run(['serve', '--print-config'], { RESNET_SERVE_MAX_BATCH: '0' });
    expect(batch.stderr).toContain('Expected an integer from 1 to 64 for RESNET_SERVE_MAX_BATCH but received 0 [INVALID_ARGUMENT]');
  });
});

describe('counts', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'resnet-serve-cli-help-'));
    await writeFile(join(dir, 'model.onnx'), syntheticModel());
    await mkdir(join(dir, 'photos'));
    await sharp({ create: { width: 64, height: 48, channels: 3, background: '#406080' } })
      .png()
      .toFile(join(dir, 'photos', 'one.png'));
    await writeFile(join(dir, 'photos', 'notes.txt'), 'not an image');
  }, 60_000);
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('classify --jsonl says "1 line written (0 errors); 1 file skipped"', async () => {
    const out = join(dir, 'out.jsonl');
    const { code, stderr } = await run(['classify', '--model', join(dir, 'model.onnx'), '--jsonl', out, join(dir, 'photos')], {
      RESNET_SERVE_HOME: join(dir, 'home'),
    });
    expect(code, stderr).toBe(0);
    expect(stderr).toContain(`${out}: 1 line written (0 errors); 1 file skipped, not images`);
  }, 120_000);
});
