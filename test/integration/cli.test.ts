import { execFile, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { convertToOnnx } from '../../src/model/architectures/resnet.js';
import { waitUntilReady } from '../helpers/spawn-server.js';
import { syntheticResNet18StateDict } from '../helpers/synthetic-weights.js';

const CLI = fileURLToPath(new URL('../../dist/cli.js', import.meta.url));
const TINY_PTH = fileURLToPath(new URL('../fixtures/model/tiny-resnet18.pth', import.meta.url));

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function run(args: string[], env: Record<string, string> = {}): Promise<Run> {
  return new Promise((resolve) => {
    execFile(process.execPath, [CLI, ...args], { env: { ...process.env, ...env }, timeout: 60_000 }, (error, stdout, stderr) => {
      resolve({ code: error === null ? 0 : typeof error.code === 'number' ? error.code : 1, stdout, stderr });
    });
  });
}

let dir: string;
let fullModel: string;
let cat: string;
let dog: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'resnet-serve-cli-'));
  fullModel = join(dir, 'synthetic-resnet18.onnx');
  await writeFile(fullModel, convertToOnnx(syntheticResNet18StateDict(7)));
  // Two different pictures: the names say nothing, the pixels differ.
  cat = join(dir, 'cat.jpg');
  dog = join(dir, 'dog.png');
  await sharp({ create: { width: 320, height: 240, channels: 3, background: '#c0804a' } })
    .composite([{ input: Buffer.from('<svg width="320" height="240"><circle cx="160" cy="120" r="80" fill="#203040"/></svg>') }])
    .jpeg()
    .toFile(cat);
  await sharp({ create: { width: 200, height: 300, channels: 3, background: '#2a7f3c' } })
    .png()
    .toFile(dog);
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('resnet-serve classify', () => {
  it('--json prints exactly the documented shape, one entry per file in order, each naming the model', async () => {
    const { code, stdout } = await run(['classify', '--model', fullModel, '--json', cat, dog]);
    expect(code).toBe(0);
    const results = JSON.parse(stdout) as { file: string; model: string; predictions: Record<string, unknown>[] }[];
    expect(results.map((r) => r.file)).toEqual([cat, dog]);
    // An .onnx made elsewhere (no contract in its metadata) is named by its file's stem and its own SHA-256.
    const id = `synthetic-resnet18-${createHash('sha256')
      .update(await readFile(fullModel))
      .digest('hex')
      .slice(0, 8)}`;
    for (const result of results) {
      expect(Object.keys(result)).toEqual(['file', 'model', 'precision', 'predictions']);
      expect(result).toMatchObject({ model: id, precision: 'fp32' });
      expect(result.predictions).toHaveLength(3);
      for (const p of result.predictions) {
        expect(Object.keys(p)).toEqual(['index', 'label', 'label_zh', 'probability']);
        expect(p.label_zh).toMatch(/\p{Script=Han}/u);
      }
    }
  });

  it('gives a failing file {file, error} in its place and exits 1', async () => {
    const text = join(dir, 'notes.jpg');
    await writeFile(text, 'not an image at all');
    const { code, stdout } = await run(['classify', '--model', fullModel, '--json', cat, text, join(dir, 'missing.png')]);
    expect(code).toBe(1);
    const [ok, bad, missing] = JSON.parse(stdout) as Record<string, unknown>[];
    expect(ok).toHaveProperty('predictions');
    expect(Object.keys(bad ?? {})).toEqual(['file', 'error']);
    expect(bad?.file).toBe(text);
    expect(missing?.error).toMatch(/missing\.png/);
  });

  it('prints a table with Chinese names and --top rows', async () => {
    const { code, stdout } = await run(['classify', '--model', fullModel, '--lang', 'zh', '--top', '5', cat]);
    expect(code).toBe(0);
    const rows = stdout.split('\n').filter((line) => /^\s+\d\. /.test(line));
    expect(rows).toHaveLength(5);
    expect(rows[0]).toMatch(/\p{Script=Han}.*%/u);
  });

  it('rejects a bad flag value with exit 2 and names the flag', async () => {
    const { code, stderr } = await run(['classify', '--model', fullModel, '--top', '0', cat]);
    expect(code).toBe(2);
    expect(stderr).toContain('--top');
    expect(stderr).toContain('INVALID_ARGUMENT');
  });

  it('converts --weights once into the cache and reuses it', async () => {
    const home = join(dir, 'home-convert');
    const first = await run(['classify', '--weights', TINY_PTH, '--json', cat], { RESNET_SERVE_HOME: home });
    expect(first.code).toBe(0);
    expect(first.stderr).toContain('Converting');
    const models = await readdir(join(home, 'models'));
    expect(models).toHaveLength(1);
    expect(models[0]).toMatch(/^tiny-resnet18-[0-9a-f]{12}\.fp32\.onnx$/);
    const second = await run(['classify', '--weights', TINY_PTH, '--json', cat], { RESNET_SERVE_HOME: home });
    expect(second.stderr).not.toContain('Converting');
    expect(JSON.parse(second.stdout)).toEqual(JSON.parse(first.stdout));
  });
});

describe('offline with no cached weights', () => {
  let closedPort: number;
  beforeAll(async () => {
    // Bind then close: nothing listens on that port afterwards, like a machine with no network.
    const server: Server = createServer();
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const address = server.address();
    closedPort = typeof address === 'object' && address !== null ? address.port : 0;
    await new Promise((r) => server.close(r));
  });

  it('says in one paragraph which file to fetch and where, with no stack trace', async () => {
    const home = join(dir, 'home-offline');
    const url = `http://127.0.0.1:${closedPort}/resnet18-f37072fd.pth`;
    const { code, stdout, stderr } = await run(['classify', '--weights-url', url, cat], { RESNET_SERVE_HOME: home });
    expect(code).toBe(1);
    expect(stdout).toBe('');
    expect(stderr).toContain(url);
    expect(stderr).toContain(join(home, 'resnet18-f37072fd.pth'));
    expect(stderr).toContain('WEIGHTS_UNAVAILABLE');
    expect(stderr).not.toMatch(/^\s+at /m);
  });

  it('serve exits 1 with the same paragraph instead of listening without a model', async () => {
    const home = join(dir, 'home-offline-serve');
    const url = `http://127.0.0.1:${closedPort}/resnet18-f37072fd.pth`;
    const { code, stderr } = await run(['serve', '--port', '0', '--weights-url', url], { RESNET_SERVE_HOME: home });
    expect(code).toBe(1);
    expect(stderr).toContain(join(home, 'resnet18-f37072fd.pth'));
    expect(stderr).toContain('WEIGHTS_UNAVAILABLE');
  });
});

describe('resnet-serve convert', () => {
  it('writes an ONNX model the classifier can load', async () => {
    const out = join(dir, 'tiny.onnx');
    const converted = await run(['convert', '--weights', TINY_PTH, '--out', out]);
    expect(converted.code).toBe(0);
    const { code, stdout } = await run(['classify', '--model', out, '--json', '--top', '2', cat]);
    expect(code).toBe(0);
    const [result] = JSON.parse(stdout) as { predictions: { label: string }[] }[];
    // The tiny fixture has 10 classes, which have no ImageNet names.
    expect(result?.predictions.map((p) => p.label)).toEqual(expect.arrayContaining([expect.stringMatching(/^class_\d$/)]));
  });

  it('refuses a checkpoint that would run code, and leaves no output', async () => {
    const out = join(dir, 'evil.onnx');
    const evil = fileURLToPath(new URL('../fixtures/weights/malicious-os-system.pth', import.meta.url));
    const { code, stderr } = await run(['convert', '--weights', evil, '--out', out]);
    expect(code).toBe(1);
    expect(stderr).toContain('CHECKPOINT_UNSAFE');
    await expect(readdir(dir)).resolves.not.toContain('evil.onnx');
  });
});

describe('resnet-serve convert --precision int8', () => {
  const SHAPES = fileURLToPath(new URL('../fixtures/int8/shapes-resnet18.safetensors', import.meta.url));

  /** Writes `count` images of a fixture set as PNG files, the way a user would hand them over. */
  async function writeImages(set: 'heldout' | 'calibration', count: number): Promise<string> {
    const { loadShapesFixture } = await import('../helpers/int8-fixture.js');
    const { gunzipSync } = await import('node:zlib');
    const { readFileSync } = await import('node:fs');
    const fixture = loadShapesFixture();
    const raw = gunzipSync(readFileSync(new URL(`../fixtures/int8/${set}.u8.gz`, import.meta.url)));
    const side = fixture.imageSize;
    const folder = join(dir, set);
    const { mkdir } = await import('node:fs/promises');
    await mkdir(folder, { recursive: true });
    for (let i = 0; i < count; i++) {
      const pixels = raw.subarray(i * side * side * 3, (i + 1) * side * side * 3);
      await sharp(pixels, { raw: { width: side, height: side, channels: 3 } })
        .resize(side * fixture.upsample, side * fixture.upsample, { kernel: 'nearest' })
        .png()
        .toFile(join(folder, `${String(i).padStart(3, '0')}.png`));
    }
    return folder;
  }

  it('writes a calibrated int8 model and reports its agreement with fp32', async () => {
    const calibration = await writeImages('calibration', 16);
    const validate = await writeImages('heldout', 32);
    const out = join(dir, 'shapes.int8.onnx');
    const { code, stdout, stderr } = await run([
      'convert',
      '--weights',
      SHAPES,
      '--out',
      out,
      '--precision',
      'int8',
      '--calibration',
      calibration,
      '--validate',
      validate,
    ]);
    expect(code, stderr).toBe(0);
    expect(stderr).toContain('calibrated on 16 images');
    const match = /on 32 images: top-1 agreement ([\d.]+)%/.exec(stdout);
    expect(match).not.toBeNull();
    expect(Number(match?.[1])).toBeGreaterThanOrEqual(90);
  });

  it('classify --precision int8 --weights quantises once, data-free, into the cache', async () => {
    const home = join(dir, 'home-int8');
    const { code } = await run(['classify', '--weights', SHAPES, '--precision', 'int8', '--json', cat], { RESNET_SERVE_HOME: home });
    expect(code).toBe(0);
    expect(await readdir(join(home, 'models'))).toEqual([expect.stringMatching(/^shapes-resnet18-[0-9a-f]{12}\.int8\.onnx$/)]);
  });

  it('refuses --validate without --precision int8', async () => {
    const { code, stderr } = await run(['convert', '--weights', SHAPES, '--out', join(dir, 'x.onnx'), '--validate', dir]);
    expect(code).toBe(2);
    expect(stderr).toContain('--precision int8');
  });
});

describe('the package as a library', () => {
  it("exports preprocess and the classifier from 'resnet-serve'", async () => {
    const script = `
      import { preprocess, createClassifier, INPUT_ELEMENTS } from 'resnet-serve';
      import { readFileSync } from 'node:fs';
      const tensor = await preprocess(readFileSync(process.argv[1]));
      console.log(JSON.stringify({ length: tensor.length, expected: INPUT_ELEMENTS, classifier: typeof createClassifier }));`;
    const result = await new Promise<string>((resolve, reject) => {
      execFile(
        process.execPath,
        ['--input-type=module', '-e', script, cat],
        { cwd: fileURLToPath(new URL('../..', import.meta.url)) },
        (error, stdout) => {
          if (error !== null) reject(error);
          else resolve(stdout);
        },
      );
    });
    expect(JSON.parse(result)).toEqual({ length: 3 * 224 * 224, expected: 3 * 224 * 224, classifier: 'function' });
  });
});

describe('settings from flags, environment variables and defaults', () => {
  it('serve --print-config prints RESNET_SERVE_MAX_UPLOAD and PORT with where they came from', async () => {
    const { code, stdout } = await run(['serve', '--print-config'], { RESNET_SERVE_MAX_UPLOAD: '1234567', PORT: '23456' });
    expect(code).toBe(0);
    expect(stdout).toMatch(/^--max-upload +1234567 +env RESNET_SERVE_MAX_UPLOAD$/m);
    expect(stdout).toMatch(/^--port +23456 +env PORT$/m);
    expect(stdout).toMatch(/^--max-batch +4 +default$/m);
    const json = await run(['serve', '--print-config', '--json', '--max-queue', '9'], { PORT: '23456' });
    expect(JSON.parse(json.stdout)).toMatchObject({ port: { value: 23456, source: 'env PORT' }, maxQueue: { value: 9, source: 'flag' } });
  });

  it('a flag, an environment variable and a default reach the server and its classifier', async () => {
    const child = spawn(process.execPath, [CLI, 'serve', '--model', fullModel, '--max-pixels', '50000'], {
      env: { ...process.env, RESNET_SERVE_MAX_UPLOAD: '300000', RESNET_SERVE_PORT: '0', RESNET_SERVE_HOME: join(dir, 'home-settings') },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    try {
      const url = await new Promise<string>((resolve, reject) => {
        createInterface({ input: child.stdout }).on('line', (line) => {
          const match = /Server listening at (http:\/\/127\.0\.0\.1:\d+)/.exec(line);
          if (match?.[1] !== undefined) resolve(match[1]);
        });
        child.once('exit', (exitCode) => reject(new Error(`serve exited with ${exitCode}`)));
      });
      // The server publishes what it enforces: the variable's upload limit, the flag's pixel limit, the default top-k.
      expect(await (await fetch(`${url}/config`)).json()).toMatchObject({
        maxUploadBytes: 300_000,
        maxPixels: 50_000,
        topK: 3,
        maxTopK: 20,
      });
      await waitUntilReady(url);
      // And the classifier enforces the flag's pixel limit: 320 × 240 = 76 800 pixels.
      const form = new FormData();
      form.append('file', new Blob([await readFile(cat)]), 'cat.jpg');
      const answer = await fetch(`${url}/predict`, { method: 'POST', body: form });
      expect(answer.status).toBe(413);
      expect(await answer.json()).toMatchObject({ code: 'IMAGE_TOO_LARGE' });
    } finally {
      child.kill('SIGTERM');
      await once(child, 'exit');
    }
  });

  it('serve on a port another process holds exits 1 with PORT_IN_USE, naming the address', async () => {
    const holder = createServer();
    await new Promise<void>((resolve) => holder.listen(0, '127.0.0.1', resolve));
    const { port } = holder.address() as { port: number };
    try {
      const { code, stderr } = await run(['serve', '--model', fullModel, '--port', String(port)], {
        RESNET_SERVE_HOME: join(dir, 'home-settings'),
      });
      expect(code).toBe(1);
      expect(stderr).toContain(`127.0.0.1:${port}`);
      expect(stderr).toContain('[PORT_IN_USE]');
    } finally {
      holder.close();
    }
  });
});
