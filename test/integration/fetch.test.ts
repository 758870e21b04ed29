import { createHash } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { ResnetServeError } from '../../src/errors.js';
import type { DownloadProgress } from '../../src/weights/fetch.js';
import { downloadWeights, expectedHashPrefix, resolveWeights } from '../../src/weights/fetch.js';

const body = readFileSync(fileURLToPath(new URL('../fixtures/weights/small-zip.pth', import.meta.url)));
const sha256 = createHash('sha256').update(body).digest('hex');
const prefix = sha256.slice(0, 8);

let server: Server;
let base: string;
let requests: string[] = [];
let dir: string;

/** Routes by file name: `hang-*` never sends a body, `cut-*` dies mid-body, `missing-*` is 404, anything else is the fixture in 4 chunks. */
beforeAll(async () => {
  server = createServer((req, res) => {
    requests.push(req.url ?? '');
    const name = (req.url ?? '').split('/').pop() ?? '';
    if (name.startsWith('missing-')) {
      res.writeHead(404).end('not here');
      return;
    }
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': body.byteLength });
    if (name.startsWith('hang-')) {
      res.flushHeaders();
      return;
    }
    if (name.startsWith('cut-')) {
      res.write(body.subarray(0, body.byteLength >> 1), () => setTimeout(() => res.socket?.destroy(), 20));
      return;
    }
    const quarter = Math.ceil(body.byteLength / 4);
    const send = (i: number): void => {
      if (i >= 4) {
        res.end();
        return;
      }
      res.write(body.subarray(i * quarter, (i + 1) * quarter), () => setTimeout(() => send(i + 1), 15));
    };
    send(0);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

beforeEach(() => {
  requests = [];
  dir = mkdtempSync(join(tmpdir(), 'resnet-serve-fetch-'));
});

afterEach(() => rmSync(dir, { recursive: true, force: true }));

async function failure(promise: Promise<unknown>): Promise<ResnetServeError> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof ResnetServeError) return error;
    throw error;
  }
  throw new Error('expected a ResnetServeError');
}

/** A port nothing listens on: bind one, then close it. */
async function closedPort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const { port } = probe.address() as AddressInfo;
  await new Promise((resolve) => probe.close(resolve));
  return port;
}

describe('downloadWeights', () => {
  it('streams the file to its destination, verifies the hash and reports growing progress', async () => {
    const destination = join(dir, 'nested', 'weights.pth');
    const seen: DownloadProgress[] = [];
    const result = await downloadWeights({
      url: `${base}/small-${prefix}.pth`,
      destination,
      sha256Prefix: prefix,
      onProgress: (p) => seen.push(p),
    });

    expect(result).toEqual({ path: destination, sha256, bytes: body.byteLength });
    expect(readFileSync(destination).equals(body)).toBe(true);
    const counts = seen.filter((p) => !p.done).map((p) => p.receivedBytes);
    expect(counts.length).toBeGreaterThan(1);
    expect(counts).toEqual([...counts].sort((a, b) => a - b));
    expect(new Set(counts).size).toBe(counts.length);
    expect(seen.at(-1)).toMatchObject({ receivedBytes: body.byteLength, totalBytes: body.byteLength, done: true });
    expect(readdirSync(join(dir, 'nested'))).toEqual(['weights.pth']);
  });

  it('fails on a wrong hash with CHECKSUM_MISMATCH and leaves no file and no .part behind', async () => {
    const destination = join(dir, 'weights.pth');
    const error = await failure(
      downloadWeights({ url: `${base}/small.pth`, destination, sha256Prefix: prefix === '00000000' ? '11111111' : '00000000' }),
    );
    expect(error.code).toBe('CHECKSUM_MISMATCH');
    expect(error.message).toContain(sha256);
    expect(readdirSync(dir)).toEqual([]);
  });

  it('fails when the server cuts the connection mid-body with DOWNLOAD_FAILED and leaves nothing behind', async () => {
    const error = await failure(downloadWeights({ url: `${base}/cut-${prefix}.pth`, destination: join(dir, 'weights.pth') }));
    expect(error.code).toBe('DOWNLOAD_FAILED');
    expect(error.details?.reason).toBe('interrupted');
    expect(readdirSync(dir)).toEqual([]);
  });

  it('fails on HTTP 404 with DOWNLOAD_FAILED naming the status', async () => {
    const error = await failure(downloadWeights({ url: `${base}/missing-${prefix}.pth`, destination: join(dir, 'weights.pth') }));
    expect(error.code).toBe('DOWNLOAD_FAILED');
    expect(error.message).toContain('404');
    expect(readdirSync(dir)).toEqual([]);
  });

  it('fails on a body larger than maxBytes with DOWNLOAD_FAILED before writing anything', async () => {
    const error = await failure(downloadWeights({ url: `${base}/small.pth`, destination: join(dir, 'w.pth'), maxBytes: 100 }));
    expect(error.code).toBe('DOWNLOAD_FAILED');
    expect(error.details?.reason).toBe('too-large');
    expect(readdirSync(dir)).toEqual([]);
  });

  it('fails when no data arrives within stallTimeoutMs with DOWNLOAD_FAILED and leaves nothing behind', async () => {
    const error = await failure(
      downloadWeights({ url: `${base}/hang-${prefix}.pth`, destination: join(dir, 'w.pth'), stallTimeoutMs: 200 }),
    );
    expect(error.code).toBe('DOWNLOAD_FAILED');
    expect(error.details?.reason).toBe('stall');
    expect(readdirSync(dir)).toEqual([]);
  });

  it('fails when the caller aborts with DOWNLOAD_FAILED and leaves nothing behind', async () => {
    const controller = new AbortController();
    const pending = downloadWeights({ url: `${base}/hang-${prefix}.pth`, destination: join(dir, 'w.pth'), signal: controller.signal });
    setTimeout(() => controller.abort(), 50);
    const error = await failure(pending);
    expect(error.code).toBe('DOWNLOAD_FAILED');
    expect(error.details?.reason).toBe('aborted');
    expect(readdirSync(dir)).toEqual([]);
  });
});

describe('resolveWeights', () => {
  it('uses a local --weights path as is', async () => {
    const path = join(dir, 'mine.pth');
    writeFileSync(path, body);
    await expect(resolveWeights({ weightsPath: path, home: dir })).resolves.toBe(path);
    expect(requests).toEqual([]);
  });

  it('fails on a --weights path that does not exist with INPUT_NOT_FOUND', async () => {
    const error = await failure(resolveWeights({ weightsPath: join(dir, 'nope.pth'), home: dir }));
    expect(error.code).toBe('INPUT_NOT_FOUND');
  });

  it('reuses the cached file without any request', async () => {
    const cached = join(dir, 'resnet18-f37072fd.pth');
    writeFileSync(cached, 'cached');
    await expect(resolveWeights({ home: dir, weightsUrl: `${base}/resnet18-f37072fd.pth` })).resolves.toBe(cached);
    expect(requests).toEqual([]);
  });

  it('downloads into <home>/<file name>, checking the hash prefix in the URL like torch.hub', async () => {
    const path = await resolveWeights({ home: dir, weightsUrl: `${base}/small-${prefix}.pth`, onProgress: () => undefined });
    expect(path).toBe(join(dir, `small-${prefix}.pth`));
    expect(readFileSync(path).equals(body)).toBe(true);
    expect(requests).toHaveLength(1);
  });

  it('fails on a file whose hash does not match the prefix in its URL with CHECKSUM_MISMATCH', async () => {
    const wrong = prefix === 'deadbeef' ? 'feedface' : 'deadbeef';
    const error = await failure(resolveWeights({ home: dir, weightsUrl: `${base}/small-${wrong}.pth`, onProgress: () => undefined }));
    expect(error.code).toBe('CHECKSUM_MISMATCH');
    expect(readdirSync(dir)).toEqual([]);
  });

  it('fails offline (connection refused) with WEIGHTS_UNAVAILABLE naming the URL and the target path', async () => {
    const url = `http://127.0.0.1:${await closedPort()}/resnet18-f37072fd.pth`;
    const error = await failure(resolveWeights({ home: dir, weightsUrl: url }));
    expect(error.code).toBe('WEIGHTS_UNAVAILABLE');
    expect(error.message).toContain(url);
    expect(error.message).toContain(join(dir, 'resnet18-f37072fd.pth'));
    expect(error.message).toMatch(/--weights PATH.*--weights-url URL.*RESNET_SERVE_HOME/);
    expect((error.cause as ResnetServeError).code).toBe('DOWNLOAD_FAILED');
    expect(readdirSync(dir)).toEqual([]);
  });

  it('fails with WEIGHTS_UNAVAILABLE when not cached and downloads are off, without any request', async () => {
    const error = await failure(resolveWeights({ home: dir, weightsUrl: `${base}/resnet18-f37072fd.pth`, download: false }));
    expect(error.code).toBe('WEIGHTS_UNAVAILABLE');
    expect(requests).toEqual([]);
  });
});

describe('expectedHashPrefix', () => {
  it('takes the hex digits from a torch.hub-style file name', () => {
    expect(expectedHashPrefix('https://download.pytorch.org/models/resnet18-f37072fd.pth')).toBe('f37072fd');
    expect(expectedHashPrefix('https://mirror.example/x/resnet50-0676ba61.pth')).toBe('0676ba61');
  });

  it('expects no hash for a name without one', () => {
    expect(expectedHashPrefix('https://mirror.example/weights.pth')).toBeUndefined();
  });

  it('fails on a URL without a file name with INVALID_ARGUMENT', () => {
    expect(() => expectedHashPrefix('https://mirror.example/')).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT' }));
    expect(() => expectedHashPrefix('file:///etc/passwd')).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT' }));
  });
});
