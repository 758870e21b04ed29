/**
 * POST /predict?explain=true through inject(), with the real classifier on the trained shapes fixture (small and
 * fast): the maps, the crop box and the image size in the answer, the OpenAPI rule, and the 501 of a model that
 * cannot explain.
 */

import { status } from '@grpc/grpc-js';
import type { FastifyInstance } from 'fastify';
import sharp from 'sharp';
import { afterEach, describe, expect, test } from 'vitest';
import { createClassifier } from '../../src/classifier/index.js';
import { cropBox } from '../../src/image/recipe-geometry.js';
import { buildResNetGraph, convertToOnnx } from '../../src/model/architectures/resnet.js';
import { encodeModel } from '../../src/model/onnx/proto.js';
import { buildApp } from '../../src/server/app.js';
import { startServer } from '../../src/server/start.js';
import { codeOf, grpcClient } from '../helpers/grpc-client.js';
import { loadShapesStateDict } from '../helpers/int8-fixture.js';
import { fileUpload } from '../helpers/multipart.js';
import { freePort } from '../helpers/ports.js';

const stateDict = loadShapesStateDict();
let app: FastifyInstance | undefined;
afterEach(async () => {
  await app?.close();
  app = undefined;
});

async function readyApp(model: Uint8Array): Promise<FastifyInstance> {
  app = await buildApp({ loadClassifier: () => createClassifier({ model, threads: 2 }) });
  await app.ready();
  await app.models.start();
  return app;
}

/** A red disc on grey, 300 × 200: landscape, so the crop box is narrower than the image. */
async function discJpeg(): Promise<Buffer> {
  const svg =
    '<svg xmlns="http://www.w3.org/2000/svg" width="300" height="200"><rect width="300" height="200" fill="#888"/><circle cx="190" cy="90" r="40" fill="#d22"/></svg>';
  return sharp(Buffer.from(svg)).jpeg({ quality: 95 }).toBuffer();
}

describe('POST /predict?explain=true', () => {
  test('adds a 7 × 7 cam and the crop box to every class, and the image size', async () => {
    const server = await readyApp(convertToOnnx(stateDict));
    const res = await server.inject({ method: 'POST', url: '/predict?explain=true&top=2', ...fileUpload(await discJpeg(), 'disc.jpg') });
    expect(res.statusCode).toBe(200);
    const body = res.json();
    expect(body.image).toEqual({ width: 300, height: 200 });
    const box = cropBox(300, 200);
    expect(body.predictions).toHaveLength(2);
    for (const p of body.predictions) {
      expect(p.cam).toHaveLength(7);
      for (const row of p.cam) expect(row).toHaveLength(7);
      const values = p.cam.flat() as number[];
      expect(Math.max(...values)).toBe(1);
      expect(Math.min(...values)).toBeGreaterThanOrEqual(0);
      expect(p.crop.left).toBeCloseTo(box.left, 2);
      expect(p.crop.top).toBeCloseTo(box.top, 2);
      expect(p.crop.width).toBeCloseTo(box.width, 2);
      expect(p.crop.height).toBeCloseTo(box.height, 2);
    }
  });

  test('without explain the answer is as before', async () => {
    const server = await readyApp(convertToOnnx(stateDict));
    const body = (await server.inject({ method: 'POST', url: '/predict', ...fileUpload(await discJpeg(), 'disc.jpg') })).json();
    expect(Object.keys(body).sort()).toEqual(['model', 'precision', 'predictions', 'timings_ms']);
    expect(Object.keys(body.predictions[0]).sort()).toEqual(['index', 'label', 'label_zh', 'probability']);
  });

  test('a model without the features output answers 501 EXPLAIN_UNAVAILABLE, and plain requests still work', async () => {
    const graph = buildResNetGraph(stateDict);
    const server = await readyApp(encodeModel({ ...graph, outputs: graph.outputs.slice(0, 1) }));
    const jpeg = await discJpeg();
    const res = await server.inject({ method: 'POST', url: '/predict?explain=true', ...fileUpload(jpeg, 'disc.jpg') });
    expect(res.statusCode).toBe(501);
    expect(res.json().code).toBe('EXPLAIN_UNAVAILABLE');
    expect((await server.inject({ method: 'POST', url: '/predict', ...fileUpload(jpeg, 'disc.jpg') })).statusCode).toBe(200);
  });

  test('/openapi.json states the rule of the maps', async () => {
    const server = await readyApp(convertToOnnx(stateDict));
    const doc = (await server.inject('/openapi.json')).json();
    const predict = doc.paths['/predict'].post;
    expect(predict.parameters.find((p: { name: string }) => p.name === 'explain')?.schema.type).toBe('boolean');
    const prediction = predict.responses['200'].content['application/json'].schema.properties.predictions.items;
    expect(prediction.properties.cam.description).toMatch(/ReLU, then divided by the map's maximum/);
    expect(prediction.properties.crop.description).toMatch(/after EXIF orientation/);
    expect(predict.responses['501']).toBeDefined();
  });
});

describe('Open Inference Protocol: the cam output', () => {
  const oip = (image: Buffer, outputs: { name: string }[]) => ({
    method: 'POST' as const,
    url: '/v2/models/resnet18/infer',
    headers: { 'content-type': 'application/json' },
    payload: JSON.stringify({ inputs: [{ name: 'image', shape: [1], datatype: 'BYTES', data: [image.toString('base64')] }], outputs }),
  });

  test('FP32 [N,7,7]: the top class’s map, as /predict?explain=true gives it', async () => {
    const server = await readyApp(convertToOnnx(stateDict));
    const jpeg = await discJpeg();
    const res = await server.inject(oip(jpeg, [{ name: 'cam' }, { name: 'logits' }]));
    expect(res.statusCode).toBe(200);
    const [cam, logits] = res.json().outputs;
    expect(cam).toMatchObject({ name: 'cam', datatype: 'FP32', shape: [1, 7, 7] });
    expect(logits.shape).toEqual([1, 8]);
    const predict = (await server.inject({ method: 'POST', url: '/predict?explain=true&top=1', ...fileUpload(jpeg, 'disc.jpg') })).json();
    const expected = predict.predictions[0].cam.flat() as number[];
    (cam.data as number[]).forEach((v, i) => {
      expect(v).toBeCloseTo(expected[i] as number, 4);
    });
  });

  test('not among the outputs a request gets by default; 501 EXPLAIN_UNAVAILABLE from a model without features', async () => {
    const graph = buildResNetGraph(stateDict);
    const server = await readyApp(encodeModel({ ...graph, outputs: graph.outputs.slice(0, 1) }));
    const jpeg = await discJpeg();
    const plain = await server.inject(oip(jpeg, []));
    expect(plain.statusCode).toBe(200);
    expect(plain.json().outputs.map((o: { name: string }) => o.name)).toEqual(['logits', 'probabilities']);
    const res = await server.inject(oip(jpeg, [{ name: 'cam' }]));
    expect(res.statusCode).toBe(501);
    expect(res.json().code).toBe('EXPLAIN_UNAVAILABLE');
  });
});

/** A port nothing listens on now (the gRPC server takes a fixed port). */

describe('gRPC ModelInfer: the cam output', () => {
  test('FP32 [1,7,7] in raw_output_contents, and UNIMPLEMENTED with EXPLAIN_UNAVAILABLE without features', async () => {
    const jpeg = await discJpeg();
    const request = {
      model_name: 'resnet18',
      inputs: [{ name: 'image', shape: [1], datatype: 'BYTES', contents: { bytes_contents: [jpeg] } }],
      outputs: [{ name: 'cam' }],
    };
    for (const withFeatures of [true, false]) {
      const graph = buildResNetGraph(stateDict);
      const model = encodeModel(withFeatures ? graph : { ...graph, outputs: graph.outputs.slice(0, 1) });
      const server = await startServer({
        port: 0,
        grpcPort: await freePort(),
        logger: false,
        loadClassifier: () => createClassifier({ model, threads: 2 }),
      });
      const grpc = grpcClient(server.grpcPort ?? 0);
      try {
        await server.ready;
        if (withFeatures) {
          const response = await grpc.call<{ outputs: { name: string; shape: number[] }[]; raw_output_contents: Buffer[] }>(
            'ModelInfer',
            request,
          );
          expect(response.outputs[0]).toMatchObject({ name: 'cam', shape: [1, 7, 7] });
          const raw = response.raw_output_contents[0] as Buffer;
          const cam = new Float32Array(new Uint8Array(raw).buffer);
          expect(cam).toHaveLength(49);
          expect(Math.max(...cam)).toBe(1);
        } else {
          const error = await grpc.call('ModelInfer', request).catch((e: unknown) => e);
          expect((error as { code: number }).code).toBe(status.UNIMPLEMENTED);
          expect(codeOf(error)).toBe('EXPLAIN_UNAVAILABLE');
        }
      } finally {
        grpc.close();
        await server.close();
      }
    }
  });
});
