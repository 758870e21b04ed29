/**
 * Issue #18 item 8 from the command line: answers name the weights actually used, and a file under a TorchVision
 * name is hash-checked before its first use (WEIGHTS_INVALID), the check remembered by size and mtime.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFile, mkdir, mkdtemp, readdir, readFile, rm, utimes, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI } from '../helpers/cli-process.js';

const TINY_PTH = fileURLToPath(new URL('../fixtures/model/tiny-resnet18.pth', import.meta.url));

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function run(args: string[], home: string): Promise<Run> {
  return new Promise((resolve) => {
    const env = { ...process.env, RESNET_SERVE_HOME: home };
    execFile(process.execPath, [CLI, ...args], { env, timeout: 60_000 }, (error, stdout, stderr) => {
      resolve({ code: error === null ? 0 : typeof error.code === 'number' ? error.code : 1, stdout, stderr });
    });
  });
}

let dir: string;
let photo: string;
/** SHA-256 of the tiny ResNet-18 state_dict, hex. */
let sha256: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'resnet-serve-model-id-'));
  photo = join(dir, 'photo.png');
  await sharp({ create: { width: 64, height: 48, channels: 3, background: '#805030' } })
    .png()
    .toFile(photo);
  sha256 = createHash('sha256')
    .update(await readFile(TINY_PTH))
    .digest('hex');
});
afterAll(async () => rm(dir, { recursive: true, force: true }));

describe('the model id names the weights used', () => {
  it('classify --json names the architecture and the hash prefix of --weights, and differs for other weights', async () => {
    const home = join(dir, 'home-id');
    const { code, stdout } = await run(['classify', '--weights', TINY_PTH, '--json', photo], home);
    expect(code).toBe(0);
    const [result] = JSON.parse(stdout) as { model: string; precision: string }[];
    expect(result).toMatchObject({ model: `resnet18-${sha256.slice(0, 8)}`, precision: 'fp32' });
    // The same bytes under a TorchVision name that keeps its promise: the same id, and the hash is remembered.
    const named = join(dir, `resnet18-${sha256.slice(0, 8)}.pth`);
    await copyFile(TINY_PTH, named);
    const again = await run(['classify', '--weights', named, '--json', photo], home);
    expect(again.code).toBe(0);
    expect((JSON.parse(again.stdout) as { model: string }[])[0]?.model).toBe(`resnet18-${sha256.slice(0, 8)}`);
    const records = await readdir(join(home, 'sha256'));
    const remembered = await Promise.all(records.map(async (name) => JSON.parse(await readFile(join(home, 'sha256', name), 'utf8'))));
    expect(remembered).toContainEqual(expect.objectContaining({ path: named, sha256 }));
  });
});

describe('a file under a TorchVision name is hash-checked before its first use', () => {
  it('a copy put into the cache as resnet18-f37072fd.pth is refused with WEIGHTS_INVALID, and nothing is converted', async () => {
    const home = join(dir, 'home-copied');
    await mkdir(home, { recursive: true });
    const cached = join(home, 'resnet18-f37072fd.pth');
    await copyFile(TINY_PTH, cached);
    const { code, stdout, stderr } = await run(['classify', '--json', photo], home);
    expect(code).toBe(1);
    expect(stdout).toBe('');
    expect(stderr).toContain('WEIGHTS_INVALID');
    expect(stderr).toContain(cached);
    expect(stderr).toContain(sha256);
    expect(stderr).not.toMatch(/^\s+at /m);
    await expect(readdir(join(home, 'models'))).rejects.toMatchObject({ code: 'ENOENT' });
    // serve refuses it the same way rather than serving it as the official model.
    const served = await run(['serve', '--port', '0'], home);
    expect(served.code).toBe(1);
    expect(served.stderr).toContain('WEIGHTS_INVALID');
  });

  it('--arch NAME looks for that architecture’s DEFAULT file in the cache, and checks it', async () => {
    const home = join(dir, 'home-arch');
    await mkdir(home, { recursive: true });
    const cached = join(home, 'resnet50-11ad3fa6.pth');
    await copyFile(TINY_PTH, cached);
    const { code, stderr } = await run(['classify', '--arch', 'resnet50', '--json', photo], home);
    expect(code).toBe(1);
    expect(stderr).toContain('WEIGHTS_INVALID');
    expect(stderr).toContain(cached);
  });

  it('--weights under a TorchVision name whose hash differs is refused too', async () => {
    const named = join(dir, 'resnet18-0badc0de.pth');
    await copyFile(TINY_PTH, named);
    const { code, stderr } = await run(['classify', '--weights', named, photo], join(dir, 'home-named'));
    expect(code).toBe(1);
    expect(stderr).toContain('WEIGHTS_INVALID');
    expect(stderr).toContain('0badc0de');
  });

  it('the check is remembered by size and mtime: a file changed in place is hashed again and refused', async () => {
    const home = join(dir, 'home-changed');
    const named = join(dir, `changed/resnet18-${sha256.slice(0, 8)}.pth`);
    await mkdir(join(dir, 'changed'), { recursive: true });
    await copyFile(TINY_PTH, named);
    expect((await run(['classify', '--weights', named, photo], home)).code).toBe(0);
    // Other bytes of the same size, with a new modification time: the remembered hash no longer applies.
    const bytes = await readFile(TINY_PTH);
    bytes[bytes.length - 1] = (bytes.at(-1) ?? 0) ^ 0xff;
    await writeFile(named, bytes);
    const later = new Date(Date.now() + 5_000);
    await utimes(named, later, later);
    const { code, stderr } = await run(['classify', '--weights', named, photo], home);
    expect(code).toBe(1);
    expect(stderr).toContain('WEIGHTS_INVALID');
  });
});

describe('without --weights, the DEFAULT weights are downloaded once (from a 127.0.0.1 mirror)', () => {
  let server: Server;
  let requests = 0;
  let base: string;
  beforeAll(async () => {
    const bytes = await readFile(TINY_PTH);
    server = createServer((request, response) => {
      requests++;
      if (request.url === `/resnet18-${sha256.slice(0, 8)}.pth`) response.end(bytes);
      else response.writeHead(404).end();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const address = server.address();
    base = `http://127.0.0.1:${typeof address === 'object' && address !== null ? address.port : 0}`;
  });
  afterAll(async () => new Promise((resolve) => server.close(resolve)));

  it('--weights-url: downloads, checks, names the model by the file, and reuses the cached copy', async () => {
    const home = join(dir, 'home-download');
    const url = `${base}/resnet18-${sha256.slice(0, 8)}.pth`;
    const first = await run(['classify', '--weights-url', url, '--json', photo], home);
    expect(first.code).toBe(0);
    expect((JSON.parse(first.stdout) as { model: string }[])[0]?.model).toBe(`resnet18-${sha256.slice(0, 8)}`);
    const second = await run(['classify', '--weights-url', url, '--json', photo], home);
    expect(second.code).toBe(0);
    expect(JSON.parse(second.stdout)).toEqual(JSON.parse(first.stdout));
    expect(requests).toBe(1);
  });
});
