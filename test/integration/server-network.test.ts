/**
 * The real classifier (full-width ResNet-18 graph, synthetic weights) behind a real socket on
 * 127.0.0.1: every status code with real bad files, upload limits, readiness, metrics and OpenAPI.
 */
import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { modelId } from '../../src/model/contract.js';
import { type ServerHandle, startServer } from '../../src/server/start.js';
import { postImage, rawPost } from '../helpers/http.js';
import { multipartBody } from '../helpers/multipart.js';
import { realLoader, syntheticModel } from '../helpers/synthetic-model.js';
import { bigJpegLike, noiseJpeg, noisePng, pngDeclaring, truncatedJpeg } from '../helpers/test-images.js';

const MiB = 1024 * 1024;
let server: ServerHandle;

beforeAll(async () => {
  server = await startServer({ host: '127.0.0.1', port: 0, loadClassifier: realLoader(), logger: false });
  await server.ready;
});
afterAll(async () => server?.close());

describe('POST /predict on a real socket', () => {
  test('a JPEG gets 200 with the top-3, the model id and fp32', async () => {
    const res = await postImage(server.url, await noiseJpeg(1));
    expect(res.status).toBe(200);
    // A model given as bytes, without the converter's contract, is named `model` and by its own SHA-256.
    const id = modelId('model', createHash('sha256').update(syntheticModel()).digest('hex'));
    expect(res.json).toMatchObject({ model: id, precision: 'fp32' });
    const predictions = res.json?.predictions as { index: number; label: string; label_zh: string; probability: number }[];
    expect(predictions).toHaveLength(3);
    for (const p of predictions) {
      expect(p.label.length).toBeGreaterThan(0);
      expect(p.label_zh.length).toBeGreaterThan(0);
    }
    expect(predictions[0]!.probability).toBeGreaterThanOrEqual(predictions[1]!.probability);
    expect(Object.keys(res.json?.timings_ms as object).sort()).toEqual(['decode', 'inference', 'total']);
  });

  test('a PNG with ?top=5 gets five classes', async () => {
    const res = await postImage(server.url, await noisePng(2), { query: '?top=5&lang=zh' });
    expect(res.status).toBe(200);
    expect(res.json?.predictions).toHaveLength(5);
  });

  test.each([
    ['a zero-byte file', 400, 'FILE_EMPTY', () => Buffer.alloc(0)],
    ['a text file', 415, 'UNSUPPORTED_MEDIA_TYPE', () => Buffer.from('just some text, not an image\n')],
    ['a truncated JPEG', 422, 'IMAGE_CORRUPT', () => truncatedJpeg(0.5)],
    ['a small PNG declaring 30000×30000', 413, 'IMAGE_TOO_LARGE', () => pngDeclaring(30_000, 30_000)],
  ] as const)('%s is %i %s', async (_name, status, code, make) => {
    const res = await postImage(server.url, await make());
    expect(res.status).toBe(status);
    expect(res.json?.code).toBe(code);
    expect(res.json?.error).toEqual(expect.any(String));
  });

  test('a 12 MB upload with Content-Length is 413 FILE_TOO_LARGE before the body is sent, and the connection closes', async () => {
    const body = multipartBody([{ name: 'file', filename: 'big.jpg', data: bigJpegLike(12 * MiB) }]);
    const chunks = function* (): Generator<Uint8Array> {
      for (let offset = 0; offset < body.payload.length; offset += 64 * 1024) yield body.payload.subarray(offset, offset + 64 * 1024);
    };
    const res = await rawPost(`${server.url}/predict`, body.headers, chunks());
    expect(res.status).toBe(413);
    expect(res.json?.code).toBe('FILE_TOO_LARGE');
    expect(res.headers.connection).toBe('close');
    expect(res.bytesSent).toBeLessThan(body.payload.length);
  });

  test('a 12 MB upload sent chunked (no Content-Length) is 413 FILE_TOO_LARGE from the part limit', async () => {
    const body = multipartBody([{ name: 'file', filename: 'big.jpg', data: bigJpegLike(12 * MiB) }]);
    const headers = { 'content-type': body.headers['content-type']!, 'transfer-encoding': 'chunked' };
    const chunks = function* (): Generator<Uint8Array> {
      for (let offset = 0; offset < body.payload.length; offset += 64 * 1024) yield body.payload.subarray(offset, offset + 64 * 1024);
    };
    const res = await rawPost(`${server.url}/predict`, headers, chunks());
    expect(res.status).toBe(413);
    expect(res.json?.code).toBe('FILE_TOO_LARGE');
  });

  test('the wrong field name is 400 FILE_MISSING', async () => {
    const res = await postImage(server.url, await noiseJpeg(3), { field: 'image' });
    expect(res.status).toBe(400);
    expect(res.json?.code).toBe('FILE_MISSING');
  });

  test.each(['?top=0', '?top=21', '?lang=de'])('%s is 400 INVALID_ARGUMENT', async (query) => {
    const res = await postImage(server.url, await noiseJpeg(4), { query });
    expect(res.status).toBe(400);
    expect(res.json?.code).toBe('INVALID_ARGUMENT');
  });

  test('an unknown route is 404 NOT_FOUND', async () => {
    const res = await fetch(`${server.url}/predict/now`);
    expect(res.status).toBe(404);
    expect(await res.json()).toMatchObject({ code: 'NOT_FOUND' });
  });

  test('the server is still ready after all of that', async () => {
    expect((await fetch(`${server.url}/readyz`)).status).toBe(200);
  });
});

describe('readiness with a loader resolved by hand', () => {
  test('/readyz is 503 NOT_READY while loading, 200 once loaded, 503 again once shutdown began', async () => {
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const loader = realLoader();
    const handle = await startServer({
      host: '127.0.0.1',
      port: 0,
      logger: false,
      loadClassifier: async (observer) => gate.then(() => loader(observer)),
    });
    try {
      expect((await fetch(`${handle.url}/healthz`)).status).toBe(200);
      const loading = await fetch(`${handle.url}/readyz`);
      expect(loading.status).toBe(503);
      expect(await loading.json()).toMatchObject({ code: 'NOT_READY' });
      const early = await postImage(handle.url, await noiseJpeg(5));
      expect(early.status).toBe(503);
      expect(early.json?.code).toBe('NOT_READY');

      release();
      await handle.ready;
      expect((await fetch(`${handle.url}/readyz`)).status).toBe(200);

      handle.app.models.beginShutdown();
      expect((await fetch(`${handle.url}/readyz`)).status).toBe(503);
      expect((await fetch(`${handle.url}/healthz`)).status).toBe(200);
    } finally {
      await handle.close();
    }
  });
});

describe('/metrics and /openapi.json', () => {
  test('/metrics shows the requests, timings, batch sizes, queue depth and process memory', async () => {
    await postImage(server.url, await noiseJpeg(6));
    const text = await (await fetch(`${server.url}/metrics`)).text();
    expect(text).toMatch(/http_requests_total\{route="\/predict",method="POST",status="200"\} \d+/);
    expect(text).toMatch(/http_requests_total\{route="\/predict",method="POST",status="415"\} 1/);
    expect(text).toMatch(/resnet_inference_ms_count [1-9]/);
    expect(text).toMatch(/resnet_decode_ms_bucket\{le="\+Inf"\} [1-9]/);
    expect(text).toMatch(/resnet_batch_size_count [1-9]/);
    expect(text).toMatch(/resnet_queue_depth \d+/);
    expect(text).toMatch(/process_resident_memory_bytes \d+/);
  });

  test('/openapi.json lists /predict', async () => {
    const doc = (await (await fetch(`${server.url}/openapi.json`)).json()) as { paths: Record<string, unknown> };
    expect(Object.keys(doc.paths)).toEqual(expect.arrayContaining(['/predict', '/healthz', '/readyz', '/config']));
  });
});
