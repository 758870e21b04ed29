/**
 * The Open Inference Protocol and TorchServe routes through inject(), with a stand-in classifier: the specs'
 * bodies and tritonclient's, every error case with its code and status, readiness, OpenAPI and metrics. The
 * real model's answers, gRPC and concurrency are in protocols-network.test.ts.
 */
import { Writable } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import { afterEach, describe, expect, test } from 'vitest';
import { type AppOptions, buildApp } from '../../src/server/app.js';
import { FakeClassifier, fakeContract, manualLoader } from '../helpers/fake-classifier.js';

/** The served model's version: its weights' (here its file's) SHA-256 prefix, as its id ends. */
const VERSION = fakeContract().version;

import { multipartBody } from '../helpers/multipart.js';
import { splitTritonResponse, tritonInferRequest } from '../helpers/tritonclient.js';
import { waitFor } from '../helpers/wait.js';

const PNG = Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), Buffer.alloc(64, 1)]);
const JPEG = Buffer.concat([Buffer.from([0xff, 0xd8, 0xff, 0xe0]), Buffer.alloc(64, 2)]);
const TEXT = Buffer.from('GIF? no: plain text, not an image at all');
const INFER = '/v2/models/resnet18/infer';

let app: FastifyInstance | undefined;
afterEach(async () => {
  await app?.close();
  app = undefined;
});

async function readyApp(options: Partial<AppOptions> = {}, classifier = new FakeClassifier()): Promise<FastifyInstance> {
  app = await buildApp({ loadClassifier: async () => classifier, ...options });
  await app.ready();
  await app.models.start();
  return app;
}

async function infer(server: FastifyInstance, request: { body: Buffer; headers: Record<string, string> }, url = INFER) {
  return server.inject({ method: 'POST', url, headers: request.headers, payload: request.body });
}

function json(body: unknown): { body: Buffer; headers: Record<string, string> } {
  return { body: Buffer.from(JSON.stringify(body)), headers: { 'content-type': 'application/json' } };
}

describe('OIP health and metadata', () => {
  test('live, ready, server metadata and model metadata answer as inference_rest.md shapes them', async () => {
    const server = await readyApp();
    expect((await server.inject({ url: '/v2/health/live' })).json()).toEqual({ live: true });
    expect((await server.inject({ url: '/v2/health/ready' })).json()).toEqual({ ready: true });
    expect((await server.inject({ url: '/v2/models/resnet18/ready' })).json()).toEqual({ name: 'resnet18', ready: true });
    expect((await server.inject({ url: `/v2/models/resnet18/versions/${VERSION}/ready` })).statusCode).toBe(200);
    expect((await server.inject({ url: '/v2/models/resnet18/versions/1/ready' })).statusCode).toBe(404);
    const metadata = (await server.inject({ url: '/v2' })).json();
    expect(metadata).toMatchObject({ name: 'resnet-serve', extensions: ['binary_tensor_data', 'classification', 'model_repository'] });
    expect(typeof metadata.version).toBe('string');
    const model = (await server.inject({ url: `/v2/models/resnet18/versions/${VERSION}` })).json();
    expect(model).toEqual({
      name: 'resnet18',
      versions: [VERSION],
      platform: 'onnx_onnxv1',
      inputs: [
        { name: 'image', datatype: 'BYTES', shape: [-1] },
        { name: 'input', datatype: 'FP32', shape: [-1, 3, 224, 224] },
      ],
      outputs: [
        { name: 'logits', datatype: 'FP32', shape: [-1, 1000] },
        { name: 'probabilities', datatype: 'FP32', shape: [-1, 1000] },
        { name: 'cam', datatype: 'FP32', shape: [-1, 7, 7] },
      ],
    });
  });

  test('the model name is a setting', async () => {
    const server = await readyApp({ modelName: 'imagenet' });
    expect((await server.inject({ url: '/v2/models/imagenet' })).json().name).toBe('imagenet');
    expect((await server.inject({ url: '/v2/models/resnet18' })).statusCode).toBe(404);
  });

  test.each(['/v2/models/resnet50', '/v2/models/resnet50/ready', '/v2/models/resnet18/versions/2', '/v2/models/resnet18/versions/2/ready'])(
    '%s is 404 MODEL_NOT_FOUND with the spec’s error field',
    async (url) => {
      const server = await readyApp();
      const res = await server.inject({ url });
      expect(res.statusCode).toBe(404);
      expect(res.json()).toMatchObject({ code: 'MODEL_NOT_FOUND', error: expect.any(String) });
    },
  );

  test('before the model is ready: live is 200; ready, model ready, infer and /ping are 503 with Retry-After', async () => {
    const loader = manualLoader(new FakeClassifier());
    app = await buildApp({ loadClassifier: loader.load });
    await app.ready();
    expect((await app.inject({ url: '/v2/health/live' })).statusCode).toBe(200);
    for (const request of [
      { method: 'GET' as const, url: '/v2/health/ready' },
      { method: 'GET' as const, url: '/v2/models/resnet18/ready' },
      { method: 'GET' as const, url: '/ping' },
      {
        method: 'POST' as const,
        url: INFER,
        ...json({ inputs: [{ name: 'image', shape: [1], datatype: 'BYTES', data: [PNG.toString('base64')] }] }),
      },
    ]) {
      const res = await app.inject({ method: request.method, url: request.url, payload: 'body' in request ? request.body : undefined });
      expect(res.statusCode, request.url).toBe(503);
      expect(res.json().code).toBe('NOT_READY');
      expect(res.headers['retry-after']).toBe('5');
    }
    loader.resolve();
    await app.models.start();
    expect((await app.inject({ url: '/v2/health/ready' })).statusCode).toBe(200);
  });
});

describe('OIP inference', () => {
  test('tritonclient’s binary request without outputs: every output, as binary data after the JSON', async () => {
    const server = await readyApp();
    const res = await infer(server, tritonInferRequest([{ name: 'image', shape: [2], datatype: 'BYTES', data: [PNG, JPEG] }]));
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toBe('application/octet-stream');
    const { json: header, binary } = splitTritonResponse(res.rawPayload, res.headers['inference-header-content-length'] as string);
    expect(header.model_name).toBe('resnet18');
    expect(header.outputs.map((o) => [o.name, o.datatype, o.shape, o.parameters?.binary_data_size])).toEqual([
      ['logits', 'FP32', [2, 1000], 8000],
      ['probabilities', 'FP32', [2, 1000], 8000],
    ]);
    expect(binary.get('probabilities')?.length).toBe(8000);
    expect(res.rawPayload.length).toBe(Number(res.headers['inference-header-content-length']) + 16_000);
  });

  test('the spec’s JSON request shape with base64 images, id echoed, JSON outputs', async () => {
    const server = await readyApp();
    const res = await infer(
      server,
      json({
        id: '42',
        inputs: [{ name: 'image', shape: [1, 1], datatype: 'BYTES', data: [[PNG.toString('base64')]] }],
        outputs: [{ name: 'logits' }],
      }),
    );
    expect(res.statusCode).toBe(200);
    expect(res.headers['inference-header-content-length']).toBeUndefined();
    const body = res.json();
    expect(body).toMatchObject({ model_name: 'resnet18', model_version: VERSION, id: '42' });
    expect(body.outputs[0]).toMatchObject({ name: 'logits', datatype: 'FP32', shape: [1, 1000] });
    expect(body.outputs[0].data).toHaveLength(1000);
  });

  test('the version path and request parameters are accepted', async () => {
    const server = await readyApp();
    const request = json({
      parameters: { priority: 1, note: 'x' },
      inputs: [{ name: 'image', shape: [1], datatype: 'BYTES', data: [PNG.toString('base64')] }],
    });
    expect((await infer(server, request, `/v2/models/resnet18/versions/${VERSION}/infer`)).statusCode).toBe(200);
  });

  test('a batch of 8 mixed images answers 8 rows, each as that image alone', async () => {
    const server = await readyApp();
    const batch = [PNG, JPEG, PNG, JPEG, PNG, JPEG, PNG, JPEG].map((b, i) => Buffer.concat([b, Buffer.from([i])]));
    const all = await infer(
      server,
      tritonInferRequest([{ name: 'image', shape: [8], datatype: 'BYTES', data: batch }], [{ name: 'logits' }]),
    );
    const rows = new Float32Array(
      new Uint8Array(
        splitTritonResponse(all.rawPayload, all.headers['inference-header-content-length'] as string).binary.get('logits') ?? [],
      ).buffer,
    );
    for (const [i, image] of batch.entries()) {
      const alone = await infer(
        server,
        tritonInferRequest([{ name: 'image', shape: [1], datatype: 'BYTES', data: [image] }], [{ name: 'logits' }]),
      );
      const row = new Float32Array(
        new Uint8Array(
          splitTritonResponse(alone.rawPayload, alone.headers['inference-header-content-length'] as string).binary.get('logits') ?? [],
        ).buffer,
      );
      expect(rows.subarray(i * 1000, (i + 1) * 1000)).toEqual(row);
    }
  });

  test.each([
    ['bad base64', { inputs: [{ name: 'image', shape: [1], datatype: 'BYTES', data: ['%%%'] }] }, 400, 'INVALID_ARGUMENT'],
    ['a wrong datatype', { inputs: [{ name: 'image', shape: [1], datatype: 'UINT8', data: [1] }] }, 400, 'INVALID_ARGUMENT'],
    ['a wrong shape', { inputs: [{ name: 'input', shape: [1, 3, 32, 32], datatype: 'FP32', data: [] }] }, 400, 'INVALID_ARGUMENT'],
    ['an unknown input', { inputs: [{ name: 'INPUT__0', shape: [1], datatype: 'BYTES', data: [''] }] }, 400, 'INVALID_ARGUMENT'],
    [
      'an unknown output',
      { inputs: [{ name: 'image', shape: [1], datatype: 'BYTES', data: [PNG.toString('base64')] }], outputs: [{ name: 'output0' }] },
      400,
      'INVALID_ARGUMENT',
    ],
    [
      'N over the limit',
      { inputs: [{ name: 'image', shape: [3], datatype: 'BYTES', data: Array(3).fill(PNG.toString('base64')) }] },
      400,
      'INVALID_ARGUMENT',
    ],
    [
      'an element that is not an image',
      { inputs: [{ name: 'image', shape: [2], datatype: 'BYTES', data: [PNG, TEXT].map((b) => b.toString('base64')) }] },
      415,
      'UNSUPPORTED_MEDIA_TYPE',
    ],
    [
      'an empty element',
      { inputs: [{ name: 'image', shape: [2], datatype: 'BYTES', data: [PNG.toString('base64'), ''] }] },
      400,
      'FILE_EMPTY',
    ],
    [
      'an element over the byte limit',
      {
        inputs: [
          {
            name: 'image',
            shape: [2],
            datatype: 'BYTES',
            data: [PNG, Buffer.concat([PNG, Buffer.alloc(2000)])].map((b) => b.toString('base64')),
          },
        ],
      },
      413,
      'FILE_TOO_LARGE',
    ],
  ])('%s', async (_, body, status, code) => {
    const server = await readyApp({ maxInferImages: 2, maxUploadBytes: 1024 });
    const res = await infer(server, json(body));
    expect(res.statusCode).toBe(status);
    expect(res.json()).toMatchObject({ code, error: expect.any(String) });
  });

  test('a bad element fails the whole request and is named by its index', async () => {
    const server = await readyApp();
    const res = await infer(server, tritonInferRequest([{ name: 'image', shape: [3], datatype: 'BYTES', data: [PNG, JPEG, TEXT] }]));
    expect(res.statusCode).toBe(415);
    expect(res.json().error).toContain('element 2');
    expect(res.json().details).toMatchObject({ index: 2, input: 'image' });
  });

  test('an element whose pixels are over the limit is 413 IMAGE_TOO_LARGE with its index (the classifier’s own check)', async () => {
    const big = new FakeClassifier();
    big.infer = async () => {
      const { ResnetServeError } = await import('../../src/errors.js');
      throw new ResnetServeError('IMAGE_TOO_LARGE', { width: 8000, height: 6000, maxPixels: 40_000_000 });
    };
    const server = await readyApp({}, big);
    const res = await infer(server, tritonInferRequest([{ name: 'image', shape: [1], datatype: 'BYTES', data: [PNG] }]));
    expect(res.statusCode).toBe(413);
    expect(res.json()).toMatchObject({ code: 'IMAGE_TOO_LARGE', details: { index: 0 } });
  });

  test('a full queue is 503 QUEUE_FULL with Retry-After', async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => {
      release = r;
    });
    const classifier = new FakeClassifier({ maxQueue: 1, gate });
    const server = await readyApp({}, classifier);
    const first = infer(server, tritonInferRequest([{ name: 'image', shape: [1], datatype: 'BYTES', data: [PNG] }]));
    await waitFor('the first request to hold the queue', () => classifier.queueDepth() === 1);
    const second = await infer(server, tritonInferRequest([{ name: 'image', shape: [1], datatype: 'BYTES', data: [JPEG] }]));
    expect(second.statusCode).toBe(503);
    expect(second.json().code).toBe('QUEUE_FULL');
    expect(second.headers['retry-after']).toBe('1');
    release();
    expect((await first).statusCode).toBe(200);
  });

  test('a body over N uploads is 413', async () => {
    const server = await readyApp({ maxInferImages: 1, maxUploadBytes: 1024 });
    const res = await infer(server, { body: Buffer.alloc(1024 + 65 * 1024, 0x20), headers: {} });
    expect(res.statusCode).toBe(413);
  });

  test('a body that is not JSON is 400, whatever its Content-Type', async () => {
    const server = await readyApp();
    for (const headers of [{}, { 'content-type': 'application/json' }, { 'content-type': 'text/plain' }] as Record<string, string>[]) {
      const res = await infer(server, { body: Buffer.from('{"inputs": ['), headers });
      expect(res.statusCode).toBe(400);
      expect(res.json().code).toBe('INVALID_ARGUMENT');
    }
  });
});

describe('TorchServe', () => {
  test('GET /ping is {"status": "Healthy"}', async () => {
    const server = await readyApp();
    expect((await server.inject({ url: '/ping' })).json()).toEqual({ status: 'Healthy' });
  });

  test.each([
    ['POST, no Content-Type (curl --data-binary)', 'POST', {}],
    ['PUT (curl -T)', 'PUT', {}],
    ['POST application/octet-stream', 'POST', { 'content-type': 'application/octet-stream' }],
    [
      'POST application/x-www-form-urlencoded (curl --data-binary’s default)',
      'POST',
      { 'content-type': 'application/x-www-form-urlencoded' },
    ],
    ['POST image/png', 'POST', { 'content-type': 'image/png' }],
  ] as const)('the raw body: %s', async (_, method, headers) => {
    const server = await readyApp();
    const res = await server.inject({ method, url: '/predictions/resnet18', headers, payload: PNG });
    expect(res.statusCode).toBe(200);
    expect(Object.keys(res.json())).toHaveLength(5);
  });

  test('a multipart field `data`, at TorchServe’s example model name and its version 1.0', async () => {
    const server = await readyApp();
    const raw = (await server.inject({ method: 'POST', url: '/predictions/resnet-18', payload: PNG })).json();
    const res = await server.inject({
      method: 'POST',
      url: '/predictions/resnet-18/1.0',
      ...multipartBody([{ name: 'data', filename: 'kitten.png', data: PNG }]),
    });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual(raw);
  });

  test('a multipart request without `data` is FILE_MISSING; an empty body FILE_EMPTY; another model MODEL_NOT_FOUND', async () => {
    const server = await readyApp();
    const missing = await server.inject({
      method: 'POST',
      url: '/predictions/resnet18',
      ...multipartBody([{ name: 'file', filename: 'k.png', data: PNG }]),
    });
    expect(missing.json().code).toBe('FILE_MISSING');
    const empty = await server.inject({ method: 'POST', url: '/predictions/resnet18' });
    expect(empty.json().code).toBe('FILE_EMPTY');
    const other = await server.inject({ method: 'POST', url: '/predictions/densenet161', payload: PNG });
    expect(other.statusCode).toBe(404);
    expect(other.json().code).toBe('MODEL_NOT_FOUND');
  });

  test('a body over the upload limit is 413 and not an image 415', async () => {
    const server = await readyApp({ maxUploadBytes: 1024 });
    expect(
      (await server.inject({ method: 'POST', url: '/predictions/resnet18', payload: Buffer.concat([PNG, Buffer.alloc(2000)]) })).statusCode,
    ).toBe(413);
    expect((await server.inject({ method: 'POST', url: '/predictions/resnet18', payload: TEXT })).json().code).toBe(
      'UNSUPPORTED_MEDIA_TYPE',
    );
  });
});

describe('one wording per refusal, on every route', () => {
  test('FILE_TOO_LARGE reads alike from /predict, TorchServe (raw and multipart) and an OIP element', async () => {
    const server = await readyApp({ maxUploadBytes: 1024 });
    const big = Buffer.concat([PNG, Buffer.alloc(2000)]);
    const answers = [
      await server.inject({ method: 'POST', url: '/predict', ...multipartBody([{ name: 'file', filename: 'k.png', data: big }]) }),
      await server.inject({ method: 'POST', url: '/predictions/resnet18', payload: big }),
      await server.inject({
        method: 'POST',
        url: '/predictions/resnet18',
        ...multipartBody([{ name: 'data', filename: 'k.png', data: big }]),
      }),
      await infer(server, json({ inputs: [{ name: 'image', shape: [1], datatype: 'BYTES', data: [big.toString('base64')] }] })),
    ];
    for (const answer of answers) {
      expect(answer.json()).toMatchObject({ code: 'FILE_TOO_LARGE', details: { limitBytes: 1024 } });
      expect(answer.json().error).toMatch(/^(The upload|Input "image" element 0) is larger than the 1 KiB limit \(--max-upload\)\.$/);
    }
  });

  test('FILE_MISSING names the route that was called and the part it reads', async () => {
    const server = await readyApp();
    const noPart = multipartBody([{ name: 'other', filename: 'k.png', data: PNG }]);
    const torchserve = await server.inject({ method: 'POST', url: '/predictions/resnet18?x=1', ...noPart });
    expect(torchserve.json()).toMatchObject({ code: 'FILE_MISSING' });
    expect(torchserve.json().error).toContain('POST /predictions/resnet18 expects');
    expect(torchserve.json().error).toContain('a part named `data`');
    const predict = await server.inject({ method: 'POST', url: '/predict', ...noPart });
    expect(predict.json().error).toContain('POST /predict expects');
    expect(predict.json().error).toContain('a part named `file`');
  });
});

describe('documented and counted', () => {
  test('every protocol route is in the OpenAPI document', async () => {
    const server = await readyApp();
    const paths = Object.keys((await server.inject({ url: '/openapi.json' })).json().paths);
    expect(paths).toEqual(
      expect.arrayContaining([
        '/v2',
        '/v2/health/live',
        '/v2/health/ready',
        '/v2/models/{model}',
        '/v2/models/{model}/versions/{version}',
        '/v2/models/{model}/ready',
        '/v2/models/{model}/versions/{version}/ready',
        '/v2/models/{model}/infer',
        '/v2/models/{model}/versions/{version}/infer',
        '/ping',
        '/predictions/{model}',
        '/predictions/{model}/{version}',
      ]),
    );
  });

  test('the protocols’ health probes stay out of the info-level request log; their inferences do not', async () => {
    const lines: { msg?: string; url?: string }[] = [];
    const stream = new Writable({
      write(chunk: Buffer, _encoding, done) {
        lines.push(JSON.parse(chunk.toString()));
        done();
      },
    });
    const server = await readyApp({ logger: { level: 'info', stream } });
    for (const url of ['/v2/health/live', '/v2/health/ready', '/ping']) await server.inject({ url });
    await server.inject({ method: 'POST', url: '/predictions/resnet18', payload: PNG });
    expect(lines.filter((l) => l.msg === 'request completed').map((l) => l.url)).toEqual(['/predictions/resnet18']);
  });

  test('protocol requests are counted by route template, and their images timed, in /metrics', async () => {
    const server = await readyApp();
    await infer(server, tritonInferRequest([{ name: 'image', shape: [2], datatype: 'BYTES', data: [PNG, JPEG] }]));
    await server.inject({ method: 'POST', url: '/predictions/resnet18', payload: PNG });
    const text = (await server.inject({ url: '/metrics' })).body;
    expect(text).toContain('http_requests_total{route="/v2/models/:model/infer",method="POST",status="200"} 1');
    expect(text).toContain('http_requests_total{route="/predictions/:model",method="POST",status="200"} 1');
    expect(text).toMatch(/^resnet_classify_total_ms_count 3$/m);
  });
});
