/**
 * A first start of `serve` with an empty cache: fetching the weights (from a mirror on 127.0.0.1) and converting
 * them are JSON log lines on stdout like every line after them, and stderr stays empty.
 */
import { once } from 'node:events';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI, startCli } from '../helpers/cli-process.js';

const TINY_PTH = fileURLToPath(new URL('../fixtures/model/tiny-resnet18.pth', import.meta.url));

let dir: string;
let mirror: Server;
let weightsUrl: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'resnet-serve-serve-log-'));
  const bytes = await readFile(TINY_PTH);
  mirror = createServer((_request, response) => {
    response.writeHead(200, { 'content-length': bytes.length, 'content-type': 'application/octet-stream' });
    response.end(bytes);
  });
  mirror.listen(0, '127.0.0.1');
  await once(mirror, 'listening');
  weightsUrl = `http://127.0.0.1:${(mirror.address() as AddressInfo).port}/tiny-resnet18.pth`;
});

afterAll(async () => {
  mirror.close();
  await rm(dir, { recursive: true, force: true });
});

describe('serve on a first start', () => {
  it('logs the download and the conversion as JSON lines, and writes nothing to stderr', async () => {
    const home = join(dir, 'home');
    const server = startCli([CLI, 'serve', '--host', '127.0.0.1', '--port', '0', '--weights-url', weightsUrl], {
      PATH: process.env.PATH ?? '',
      RESNET_SERVE_HOME: home,
    });
    try {
      await server.url;
      // Stopped once ready, so the drain has a loaded session to close, as a deployment's would.
      await expect.poll(() => server.stdout().includes('"msg":"model ready"'), { timeout: 60_000 }).toBe(true);
    } finally {
      server.child.kill('SIGTERM');
    }
    expect(await server.exited).toBe(0);
    expect(server.stderr()).toBe('');
    const lines = server.stdout().trimEnd().split('\n');
    const records = lines.map((line) => JSON.parse(line) as { level: number; msg: string; url?: string; path?: string; bytes?: number });
    const cached = join(home, 'tiny-resnet18.pth');
    const messages = records.map((r) => r.msg);
    const downloading = records.find((r) => r.msg.startsWith('downloading the weights'));
    expect(downloading, messages.join('\n')).toMatchObject({ level: 30, url: weightsUrl, path: cached });
    const size = (await readFile(TINY_PTH)).length;
    expect(records.find((r) => r.msg === 'weights downloaded')).toMatchObject({ path: cached, bytes: size });
    const converting = records.findIndex((r) => r.msg.startsWith('Converting tiny-resnet18.pth (resnet18) to ONNX (fp32)'));
    expect(converting, messages.join('\n')).toBeGreaterThan(records.indexOf(downloading!));
    expect(records[converting]?.msg).toContain(`cached at ${join(home, 'models')}`);
    // The server's own lines come after, in the same format.
    expect(messages.findIndex((m) => m.startsWith('Server listening at'))).toBeGreaterThan(converting);
  }, 120_000);
});
