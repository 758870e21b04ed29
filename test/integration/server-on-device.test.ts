import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { IMAGENET_RECIPE, type PreprocessRecipe } from '../../src/image/recipe.js';
import { buildApp } from '../../src/server/app.js';
import type { OnDeviceManifest } from '../../src/server/on-device.js';
import { publicModel } from '../../src/server/routes/config.js';
import { FakeClassifier, fakeContract } from '../helpers/fake-classifier.js';

const MODEL = Uint8Array.from({ length: 4096 }, (_, i) => (i * 7) & 0xff);

describe('on-device routes', () => {
  let app: FastifyInstance;
  let manifest: OnDeviceManifest;

  beforeAll(async () => {
    app = await buildApp({
      loadClassifier: async () => new FakeClassifier(),
      onDevice: { model: MODEL, contract: fakeContract({ precision: 'int8' }) },
    });
    manifest = (await app.inject({ method: 'GET', url: '/on-device' })).json<OnDeviceManifest>();
  });
  afterAll(async () => app.close());

  it('GET /on-device names the model by a content key, its size and precision, and a versioned runtime directory', () => {
    expect(manifest.model).toEqual({
      url: expect.stringMatching(/^on-device\/model\/[0-9a-f]{16}\.onnx$/),
      bytes: 4096,
      name: 'resnet18',
      ...publicModel(fakeContract({ precision: 'int8' })),
    });
    expect(manifest.runtime).toMatch(/^on-device\/ort\/\d+\.\d+\.\d+\/$/);
  });

  it('GET /on-device gives the page the recipe the server preprocesses with: IMAGENET1K_V1’s by default, else the model’s', async () => {
    expect(manifest.recipe).toEqual(IMAGENET_RECIPE);
    // efficientnet_b0's IMAGENET1K_V1 transforms.
    const recipe: PreprocessRecipe = { ...IMAGENET_RECIPE, resizeSize: 256, cropSize: 224, interpolation: 'bicubic' };
    const bicubic = await buildApp({
      loadClassifier: async () => new FakeClassifier(),
      onDevice: { model: MODEL, contract: fakeContract({ recipe }) },
    });
    expect((await bicubic.inject({ method: 'GET', url: '/on-device' })).json<OnDeviceManifest>().recipe).toEqual(recipe);
    await bicubic.close();
  });

  it('serves the model bytes with a strong ETag and a year of immutable caching; If-None-Match → 304 with no body', async () => {
    const first = await app.inject({ method: 'GET', url: `/${manifest.model.url}` });
    expect(first.statusCode).toBe(200);
    expect(new Uint8Array(first.rawPayload)).toEqual(MODEL);
    expect(first.headers['cache-control']).toBe('public, max-age=31536000, immutable');
    expect(first.headers['content-length']).toBe('4096');
    const etag = first.headers.etag as string;
    expect(etag).toMatch(/^"[0-9a-f]{16}"$/);
    const again = await app.inject({ method: 'GET', url: `/${manifest.model.url}`, headers: { 'if-none-match': etag } });
    expect(again.statusCode).toBe(304);
    expect(again.rawPayload.length).toBe(0);
  });

  it('another model key → 404 (an old URL never serves the new model under the old name)', async () => {
    expect((await app.inject({ method: 'GET', url: '/on-device/model/0000000000000000.onnx' })).statusCode).toBe(404);
  });

  it("serves onnxruntime-web's three WebAssembly-backend files from node_modules, and nothing else", async () => {
    const wasm = await app.inject({ method: 'GET', url: `/${manifest.runtime}ort-wasm-simd-threaded.wasm` });
    expect(wasm.statusCode).toBe(200);
    expect(wasm.headers['content-type']).toBe('application/wasm');
    expect([...wasm.rawPayload.subarray(0, 4)]).toEqual([0x00, 0x61, 0x73, 0x6d]);
    expect(wasm.headers['cache-control']).toContain('immutable');
    const module = await app.inject({ method: 'GET', url: `/${manifest.runtime}ort.wasm.min.mjs` });
    expect(module.headers['content-type']).toMatch(/^text\/javascript/);
    expect((await app.inject({ method: 'GET', url: `/${manifest.runtime}package.json` })).statusCode).toBe(404);
    expect((await app.inject({ method: 'GET', url: `/${manifest.runtime}..%2Fpackage.json` })).statusCode).toBe(404);
    expect((await app.inject({ method: 'GET', url: '/on-device/ort/0.0.1/ort.wasm.min.mjs' })).statusCode).toBe(404);
  });

  it('every response is cross-origin isolated (COOP same-origin + COEP require-corp), so the page may use threads', async () => {
    for (const url of ['/healthz', '/on-device', '/']) {
      const response = await app.inject({ method: 'GET', url });
      expect(response.headers['cross-origin-opener-policy']).toBe('same-origin');
      expect(response.headers['cross-origin-embedder-policy']).toBe('require-corp');
    }
  });
});

describe('on-device mode off', () => {
  it('without a model for it, GET /on-device and the model routes answer 404', async () => {
    const app = await buildApp({ loadClassifier: async () => new FakeClassifier() });
    expect((await app.inject({ method: 'GET', url: '/on-device' })).statusCode).toBe(404);
    await app.close();
  });

  it('serves a model from a file, keyed by path, size and modification time', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'on-device-'));
    const path = join(dir, 'model.onnx');
    writeFileSync(path, MODEL);
    const app = await buildApp({ loadClassifier: async () => new FakeClassifier(), onDevice: { model: path, contract: fakeContract() } });
    const manifest = (await app.inject({ method: 'GET', url: '/on-device' })).json<OnDeviceManifest>();
    const response = await app.inject({ method: 'GET', url: `/${manifest.model.url}` });
    expect(new Uint8Array(response.rawPayload)).toEqual(MODEL);
    await app.close();
    rmSync(dir, { recursive: true, force: true });
  });
});
