/**
 * The HTTP contract through inject(), with a stand-in classifier: routing, validation, error mapping,
 * readiness, metrics, OpenAPI and close ordering. The real model on a real port is in server-network.test.ts.
 */

import type { FastifyInstance } from 'fastify';
import { afterEach, describe, expect, test } from 'vitest';
import { ResnetServeError } from '../../src/errors.js';
import { type AppOptions, buildApp } from '../../src/server/app.js';
import { FakeClassifier, fakeContract, manualLoader } from '../helpers/fake-classifier.js';
import { fileUpload, multipartBody } from '../helpers/multipart.js';
import { waitFor } from '../helpers/wait.js';

const PNG = Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), Buffer.alloc(64, 1)]);

let app: FastifyInstance | undefined;
afterEach(async () => {
  await app?.close();
  app = undefined;
});

async function readyApp(classifier = new FakeClassifier(), options: Partial<AppOptions> = {}): Promise<FastifyInstance> {
  app = await buildApp({ loadClassifier: async () => classifier, ...options });
  await app.ready();
  await app.models.start();
  return app;
}

describe('POST /predict', () => {
  test('answers the top-3 with both labels, the model, its precision and timings', async () => {
    const server = await readyApp();
    const res = await server.inject({ method: 'POST', url: '/predict', ...fileUpload(PNG, 'cat.png') });
    expect(res.statusCode).toBe(200);
    const body = res.json();
    expect(Object.keys(body).sort()).toEqual(['model', 'precision', 'predictions', 'timings_ms']);
    expect(body.model).toBe(fakeContract().id);
    expect(body.precision).toBe('fp32');
    expect(body.predictions).toHaveLength(3);
    expect(Object.keys(body.predictions[0]).sort()).toEqual(['index', 'label', 'label_zh', 'probability']);
    expect(body.timings_ms).toEqual({ decode: 1, inference: 2, total: 3 });
  });

  test('honours top and accepts lang', async () => {
    const server = await readyApp();
    const res = await server.inject({ method: 'POST', url: '/predict?top=20&lang=zh', ...fileUpload(PNG) });
    expect(res.statusCode).toBe(200);
    expect(res.json().predictions).toHaveLength(20);
  });

  test.each(['top=0', 'top=21', 'top=abc', 'top=1.5', 'lang=fr'])('rejects %s with INVALID_ARGUMENT', async (query) => {
    const server = await readyApp();
    const res = await server.inject({ method: 'POST', url: `/predict?${query}`, ...fileUpload(PNG) });
    expect(res.statusCode).toBe(400);
    expect(res.json().code).toBe('INVALID_ARGUMENT');
  });

  test('a part under another name is FILE_MISSING', async () => {
    const server = await readyApp();
    const res = await server.inject({
      method: 'POST',
      url: '/predict',
      ...multipartBody([{ name: 'image', filename: 'a.png', data: PNG }]),
    });
    expect(res.statusCode).toBe(400);
    expect(res.json().code).toBe('FILE_MISSING');
  });

  test('an empty file name (a browser form with no file chosen) is FILE_MISSING', async () => {
    const server = await readyApp();
    const res = await server.inject({ method: 'POST', url: '/predict', ...multipartBody([{ name: 'file', filename: '', data: '' }]) });
    expect(res.json().code).toBe('FILE_MISSING');
  });

  test('a text field named file is FILE_MISSING', async () => {
    const server = await readyApp();
    const res = await server.inject({ method: 'POST', url: '/predict', ...multipartBody([{ name: 'file', data: 'cat.jpg' }]) });
    expect(res.json().code).toBe('FILE_MISSING');
  });

  test('a body that is not multipart is FILE_MISSING', async () => {
    const server = await readyApp();
    const json = await server.inject({ method: 'POST', url: '/predict', payload: { file: 'x' } });
    expect(json.json().code).toBe('FILE_MISSING');
    const raw = await server.inject({ method: 'POST', url: '/predict', headers: { 'content-type': 'image/png' }, payload: PNG });
    expect(raw.statusCode).toBe(400);
    expect(raw.json().code).toBe('FILE_MISSING');
  });

  test('parts after the file are ignored, as the Flask reference ignores them', async () => {
    const server = await readyApp();
    const body = multipartBody([
      { name: 'file', filename: 'a.png', data: PNG },
      { name: 'file', filename: 'b.png', data: PNG },
      { name: 'note', data: 'hello' },
    ]);
    const res = await server.inject({ method: 'POST', url: '/predict', ...body });
    expect(res.statusCode).toBe(200);
  });

  test('more fields before the file than an upload needs is INVALID_ARGUMENT', async () => {
    const server = await readyApp();
    const fields = Array.from({ length: 12 }, (_, i) => ({ name: `f${i}`, data: 'x' }));
    const res = await server.inject({
      method: 'POST',
      url: '/predict',
      ...multipartBody([...fields, { name: 'file', filename: 'a.png', data: PNG }]),
    });
    expect(res.statusCode).toBe(400);
    expect(res.json().code).toBe('INVALID_ARGUMENT');
  });

  test('a file over the limit inside an honest envelope is FILE_TOO_LARGE from the multipart limit', async () => {
    const server = await readyApp(new FakeClassifier(), { maxUploadBytes: 1024 });
    const res = await server.inject({ method: 'POST', url: '/predict', ...fileUpload(Buffer.alloc(4096, 1)) });
    expect(res.statusCode).toBe(413);
    expect(res.json()).toMatchObject({ code: 'FILE_TOO_LARGE', details: { limitBytes: 1024 } });
  });

  test('a declared Content-Length over the limit is FILE_TOO_LARGE before the body is read', async () => {
    const server = await readyApp(new FakeClassifier(), { maxUploadBytes: 1024 });
    const body = fileUpload(Buffer.alloc(200 * 1024, 1));
    const res = await server.inject({ method: 'POST', url: '/predict', ...body });
    expect(res.statusCode).toBe(413);
    expect(res.json()).toMatchObject({ code: 'FILE_TOO_LARGE', details: { declaredBytes: body.payload.length } });
  });

  test.each([
    ['FILE_EMPTY', 400, Buffer.alloc(0)],
    ['UNSUPPORTED_MEDIA_TYPE', 415, Buffer.from('hello, I am text')],
    ['IMAGE_CORRUPT', 422, Buffer.from([0xff, 0xd8, 0xff, 0xe0, 1, 2])],
  ] as const)('the classifier’s %s becomes HTTP %i', async (code, status, bytes) => {
    const server = await readyApp();
    const res = await server.inject({ method: 'POST', url: '/predict', ...fileUpload(bytes) });
    expect(res.statusCode).toBe(status);
    expect(res.json()).toEqual({ error: expect.any(String), code });
  });

  test.each(['QUEUE_FULL', 'TIMEOUT'] as const)('%s is 503 with Retry-After', async (code) => {
    const classifier = new FakeClassifier();
    classifier.classify = async () => {
      throw code === 'QUEUE_FULL' ? new ResnetServeError(code, { maxQueue: 64 }) : new ResnetServeError(code, { timeoutMs: 30_000 });
    };
    const server = await readyApp(classifier);
    const res = await server.inject({ method: 'POST', url: '/predict', ...fileUpload(PNG) });
    expect(res.statusCode).toBe(503);
    expect(res.headers['retry-after']).toBe('1');
    expect(res.json().code).toBe(code);
  });

  test('an unexpected failure is 500 INTERNAL with the request id and no stack', async () => {
    const classifier = new FakeClassifier();
    classifier.classify = async () => {
      throw new TypeError('secret internals at /srv/app.js:12');
    };
    const server = await readyApp(classifier);
    // One upload: two fileUpload() calls have different boundaries, a malformed body (400) rather than a 500.
    const upload = fileUpload(PNG);
    const res = await server.inject({
      method: 'POST',
      url: '/predict',
      payload: upload.payload,
      headers: { ...upload.headers, 'x-request-id': 'abc-123' },
    });
    expect(res.statusCode).toBe(500);
    const body = res.json();
    expect(body).toMatchObject({ code: 'INTERNAL', requestId: 'abc-123' });
    expect(res.body).not.toContain('secret');
    expect(res.body).not.toContain('.js:');
    expect(res.headers['x-request-id']).toBe('abc-123');
  });

  test('before the model is ready it is 503 NOT_READY', async () => {
    const loader = manualLoader(new FakeClassifier());
    app = await buildApp({ loadClassifier: loader.load });
    const res = await app.inject({ method: 'POST', url: '/predict', ...fileUpload(PNG) });
    expect(res.statusCode).toBe(503);
    expect(res.json().code).toBe('NOT_READY');
    expect(res.headers['retry-after']).toBe('5');
  });
});

describe('health', () => {
  test('/readyz is 503 until the loader resolves, /healthz is 200 throughout', async () => {
    const loader = manualLoader(new FakeClassifier());
    app = await buildApp({ loadClassifier: loader.load });
    expect((await app.inject('/healthz')).statusCode).toBe(200);
    const before = await app.inject('/readyz');
    expect(before.statusCode).toBe(503);
    expect(before.json().code).toBe('NOT_READY');
    loader.resolve();
    await app.models.start();
    const after = await app.inject('/readyz');
    expect(after.statusCode).toBe(200);
    expect(after.json()).toEqual({ status: 'ready' });
  });

  test('/readyz stays 503 when the loader fails', async () => {
    const loader = manualLoader(new FakeClassifier());
    app = await buildApp({ loadClassifier: loader.load });
    await app.ready();
    loader.reject(new ResnetServeError('MODEL_INVALID', 'bad model'));
    await expect(app.models.start()).rejects.toMatchObject({ code: 'MODEL_INVALID' });
    expect((await app.inject('/readyz')).statusCode).toBe(503);
    expect((await app.inject('/healthz')).statusCode).toBe(200);
  });
});

describe('close', () => {
  test('waits for an in-flight prediction on a real socket, then closes the classifier once', async () => {
    let release!: () => void;
    const classifier = new FakeClassifier({ gate: new Promise<void>((resolve) => (release = resolve)) });
    const server = await readyApp(classifier);
    const url = await server.listen({ host: '127.0.0.1', port: 0 });
    const form = new FormData();
    form.append('file', new Blob([PNG]), 'a.png');
    const inFlight = fetch(`${url}/predict`, { method: 'POST', body: form });
    await waitFor('the prediction to reach the classifier', () => classifier.queueDepth() > 0);
    const closing = server.close();
    await waitFor('shutdown to begin', () => server.models.closing);
    expect(classifier.closeCalls).toBe(0);
    release();
    const res = await inFlight;
    expect(res.status).toBe(200);
    expect(res.headers.get('connection')).toBe('close');
    await closing;
    expect(classifier.closeCalls).toBe(1);
    app = undefined;
  });

  test('a classifier that finishes loading after close is closed too', async () => {
    const classifier = new FakeClassifier();
    const loader = manualLoader(classifier);
    app = await buildApp({ loadClassifier: loader.load });
    await app.ready();
    await app.close();
    loader.resolve();
    await app.models.start().catch(() => undefined);
    expect(classifier.closeCalls).toBe(1);
    app = undefined;
  });

  test('close does not wait for a load in progress; settled() resolves only once it ended, its classifier closed', async () => {
    const classifier = new FakeClassifier();
    const loader = manualLoader(classifier);
    app = await buildApp({ loadClassifier: loader.load });
    await app.ready();
    void app.models.start();
    await app.close();
    let settled = false;
    const settling = app.models.settled().then(() => (settled = true));
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(settled).toBe(false);
    loader.resolve();
    await settling;
    expect(classifier.closeCalls).toBe(1);
    app = undefined;
  });
});

describe('other routes', () => {
  test('an unknown route is 404 NOT_FOUND', async () => {
    const server = await readyApp();
    const res = await server.inject('/no/such/thing');
    expect(res.statusCode).toBe(404);
    expect(res.json()).toEqual({ error: expect.any(String), code: 'NOT_FOUND' });
  });

  test('/config publishes the limits and the model served', async () => {
    const server = await readyApp(new FakeClassifier({ maxPixels: 1_000_000 }), { maxUploadBytes: 5000, maxPixels: 1_000_000, topK: 5 });
    const model = { id: fakeContract().id, precision: 'fp32', classes: 1000, inputSize: 224, explain: { available: true } };
    expect((await server.inject('/config')).json()).toEqual({
      maxUploadBytes: 5000,
      maxPixels: 1_000_000,
      topK: 5,
      maxTopK: 20,
      model,
      // One model, given no name or contract, so named resnet18; its weights are not TorchVision's own: no card figure.
      defaultModel: 'resnet18',
      models: [{ name: 'resnet18', model }],
    });
  });

  test('/config says when the model cannot explain, and why', async () => {
    const unexplainable =
      "ConvNeXt's head normalises the pooled features (LayerNorm2d) before its linear layer, so no map adds up to its logits";
    const model = fakeContract({ name: 'convnext_tiny', architecture: 'convnext_tiny', features: undefined, unexplainable });
    const server = await readyApp(new FakeClassifier({ model }));
    expect((await server.inject('/config')).json().model).toMatchObject({
      id: model.id,
      architecture: 'convnext_tiny',
      explain: { available: false, reason: unexplainable },
    });
  });

  test('/metrics counts requests by route and status and reports the classifier’s timings', async () => {
    app = await buildApp({ loadClassifier: async ({ observer }) => new FakeClassifier({ observer }) });
    await app.ready();
    await app.models.start();
    await app.inject({ method: 'POST', url: '/predict', ...fileUpload(PNG) });
    await app.inject({ method: 'POST', url: '/predict', ...fileUpload('text') });
    await app.inject('/nope');
    const res = await app.inject('/metrics');
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toContain('text/plain');
    const text = res.body;
    expect(text).toContain('http_requests_total{route="/predict",method="POST",status="200"} 1');
    expect(text).toContain('http_requests_total{route="/predict",method="POST",status="415"} 1');
    expect(text).toContain('http_requests_total{route="not_found",method="GET",status="404"} 1');
    expect(text).toContain('resnet_decode_ms_count 1');
    expect(text).toContain('resnet_inference_ms_count 1');
    expect(text).toContain('resnet_classify_total_ms_count 1');
    expect(text).toContain('resnet_batch_size_count 1');
    expect(text).toMatch(/resnet_queue_depth 0/);
    expect(text).toMatch(/process_resident_memory_bytes \d+/);
  });

  test('many apps can be built in one process (each has its own registry)', async () => {
    const apps = await Promise.all([1, 2, 3].map(() => buildApp({ loadClassifier: async () => new FakeClassifier() })));
    for (const each of apps) expect((await each.inject('/metrics')).statusCode).toBe(200);
    await Promise.all(apps.map((each) => each.close()));
  });

  test('/openapi.json documents /predict (multipart file, top, lang, explain) and every error code', async () => {
    const server = await readyApp();
    const doc = (await server.inject('/openapi.json')).json();
    expect(doc.openapi).toMatch(/^3\./);
    const predict = doc.paths['/predict'].post;
    expect(predict.requestBody.content['multipart/form-data'].schema.properties.file).toMatchObject({ type: 'string', format: 'binary' });
    expect(predict.parameters.map((p: { name: string }) => p.name).sort()).toEqual(['explain', 'lang', 'model', 'top']);
    expect(Object.keys(predict.responses).sort()).toEqual([
      '200',
      '400',
      '401',
      '403',
      // MODEL_NOT_FOUND: ?model= names a model not served.
      '404',
      '408',
      '413',
      '415',
      '422',
      '429',
      '500',
      '501',
      '503',
    ]);
    expect(doc.components.schemas.ErrorBody.properties.code.enum).toContain('QUEUE_FULL');
    expect(doc.paths['/healthz']).toBeDefined();
    expect(doc.paths['/readyz']).toBeDefined();
    expect(doc.paths['/metrics']).toBeUndefined();
  });

  test('/docs serves Swagger UI from local files only', async () => {
    const server = await readyApp();
    const res = await server.inject('/docs/');
    expect(res.statusCode).toBe(200);
    expect(res.body).toContain('swagger-ui');
    expect(res.body).not.toMatch(/https?:\/\//);
    const init = await server.inject('/docs/static/swagger-initializer.js');
    expect(init.statusCode).toBe(200);
    expect(init.body).toContain('validatorUrl: null');
  });

  test('options are validated: a bad limit is INVALID_ARGUMENT', async () => {
    await expect(buildApp({ loadClassifier: async () => new FakeClassifier(), maxUploadBytes: 0 })).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
    });
    await expect(buildApp({ loadClassifier: async () => new FakeClassifier(), topK: 30 })).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
    });
  });
});
