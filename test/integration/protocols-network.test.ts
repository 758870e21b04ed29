/**
 * Every protocol answers like /predict and `classify --json` for the same image (same classes, probabilities
 * to 1e-6), on real ports with the real classifier on the synthetic full-width ResNet-18: Open Inference
 * Protocol REST (binary extension, base64 JSON, classification, FP32 tensors), gRPC and TorchServe, one by
 * one and as 64 concurrent clients mixing protocols (127.0.0.1, bounded in count and time).
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { createClassifier } from '../../src/classifier/index.js';
import { preprocess } from '../../src/image/index.js';
import { softmax } from '../../src/labels/postprocess.js';
import { readModelContract } from '../../src/model/read-contract.js';
import { TORCHSERVE_LABELS } from '../../src/server/protocols/torchserve/labels.js';
import { type ServerHandle, startServer } from '../../src/server/start.js';
import { codeOf, type GrpcClient, grpcClient } from '../helpers/grpc-client.js';
import { postImage } from '../helpers/http.js';
import { freePort } from '../helpers/ports.js';
import { syntheticModel } from '../helpers/synthetic-model.js';
import { deserializeBytesTensor, serializeByteTensor, splitTritonResponse, tritonInferRequest } from '../helpers/tritonclient.js';

const CLI = fileURLToPath(new URL('../../dist/cli.js', import.meta.url));
const FIXTURES = fileURLToPath(new URL('../fixtures/images/', import.meta.url));
/** Eight images in six formats, the batch the issue asks for. */
const FILES = [
  'photo-500x375.jpg',
  'tiny-150x100.png',
  'photo-320x256.webp',
  'two-frames-250x250.gif',
  'photo-160x140.tiff',
  'photo-320x240.avif',
  'cmyk-300x240.jpg',
  'palette-300x260.png',
];
const TOP = 5;
const TOLERANCE = 1e-6;

interface Reference {
  index: number;
  probability: number;
}

let dir: string;
let images: Buffer[];
/** `classify --json --top 5` for each file: the answer every protocol must give. */
let reference: Reference[][];
let server: ServerHandle;
let grpc: GrpcClient;

function classifyJson(args: string[], home: string): Promise<{ file: string; predictions: Reference[] }[]> {
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      [CLI, 'classify', ...args],
      { env: { ...process.env, RESNET_SERVE_HOME: home }, timeout: 120_000 },
      (error, stdout, stderr) => (error ? reject(new Error(`classify failed: ${stderr}`)) : resolve(JSON.parse(stdout))),
    );
  });
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'resnet-serve-protocols-'));
  const model = join(dir, 'synthetic-resnet18.onnx');
  const home = join(dir, 'home');
  await writeFile(model, syntheticModel());
  images = await Promise.all(FILES.map((f) => readFile(join(FIXTURES, f))));
  const cli = await classifyJson(['--model', model, '--json', '--top', String(TOP), ...FILES.map((f) => join(FIXTURES, f))], home);
  reference = cli.map((entry) => entry.predictions.map(({ index, probability }) => ({ index, probability })));
  server = await startServer({
    port: 0,
    grpcPort: await freePort(),
    logger: false,
    // The CLI's model file and compiled cache: the server runs exactly what `classify` ran.
    loadClassifier: ({ observer, maxPixels }) =>
      createClassifier({ model, cacheDir: home, threads: 2, maxQueue: 256, maxPixels, observer }),
  });
  await server.ready;
  grpc = grpcClient(server.grpcPort ?? 0);
}, 240_000);

afterAll(async () => {
  grpc?.close();
  await server?.close();
  await rm(dir, { recursive: true, force: true });
});

/** The top-5 of a probability row, ordered as /predict orders them. */
function top(probabilities: ArrayLike<number>, offset = 0, classes = 1000): Reference[] {
  const indices = Array.from({ length: classes }, (_, i) => i);
  indices.sort((a, b) => (probabilities[offset + b] ?? 0) - (probabilities[offset + a] ?? 0) || a - b);
  return indices.slice(0, TOP).map((index) => ({ index, probability: probabilities[offset + index] ?? Number.NaN }));
}

function expectSame(answer: Reference[], expected: Reference[] | undefined, what: string): void {
  expect(
    answer.map((p) => p.index),
    what,
  ).toEqual(expected?.map((p) => p.index));
  for (const [i, p] of answer.entries())
    expect(Math.abs(p.probability - (expected?.[i]?.probability ?? Number.NaN)), what).toBeLessThanOrEqual(TOLERANCE);
}

async function viaPredict(i: number): Promise<Reference[]> {
  const res = await postImage(server.url, images[i] as Buffer, { query: `?top=${TOP}` });
  expect(res.status).toBe(200);
  return ((res.json?.predictions ?? []) as Reference[]).map(({ index, probability }) => ({ index, probability }));
}

async function oipPost(body: Buffer, headers: Record<string, string>): Promise<{ status: number; body: Buffer; headers: Headers }> {
  const res = await fetch(`${server.url}/v2/models/resnet18/infer`, { method: 'POST', body: new Uint8Array(body), headers });
  return { status: res.status, body: Buffer.from(await res.arrayBuffer()), headers: res.headers };
}

/** A tritonclient request of these images (binary BYTES), probabilities returned as binary data. */
async function viaOipBinary(indices: number[]): Promise<Reference[][]> {
  const request = tritonInferRequest(
    [{ name: 'image', shape: [indices.length], datatype: 'BYTES', data: indices.map((i) => images[i] as Buffer) }],
    [{ name: 'probabilities' }],
  );
  const res = await oipPost(request.body, request.headers);
  expect(res.status).toBe(200);
  const { json, binary } = splitTritonResponse(res.body, res.headers.get('inference-header-content-length') ?? undefined);
  expect(json.outputs[0]?.shape).toEqual([indices.length, 1000]);
  const raw = binary.get('probabilities') as Buffer;
  const probabilities = new Float32Array(new Uint8Array(raw).buffer);
  return indices.map((_, row) => top(probabilities, row * 1000));
}

/** KServe's convention: base64 in JSON, with the classification extension on probabilities. */
async function viaOipJsonClassification(i: number): Promise<Reference[]> {
  const body = JSON.stringify({
    id: `image-${i}`,
    inputs: [{ name: 'image', shape: [1], datatype: 'BYTES', data: [(images[i] as Buffer).toString('base64')] }],
    outputs: [{ name: 'probabilities', parameters: { classification: TOP } }],
  });
  const res = await oipPost(Buffer.from(body), { 'content-type': 'application/json' });
  expect(res.status).toBe(200);
  const json = JSON.parse(res.body.toString());
  expect(json.id).toBe(`image-${i}`);
  return (json.outputs[0].data as string[]).map((s) => {
    const [value, index] = s.split(':');
    return { index: Number(index), probability: Number(value) };
  });
}

async function viaGrpc(i: number): Promise<Reference[]> {
  const response = await grpc.call<{ raw_output_contents: Buffer[]; outputs: { name: string; shape: number[] }[] }>('ModelInfer', {
    model_name: 'resnet18',
    inputs: [{ name: 'image', shape: [1], datatype: 'BYTES' }],
    outputs: [{ name: 'probabilities' }],
    raw_input_contents: [serializeByteTensor([images[i] as Buffer])],
  });
  expect(response.outputs[0]?.shape).toEqual([1, 1000]);
  return top(new Float32Array(new Uint8Array(response.raw_output_contents[0] as Buffer).buffer));
}

async function viaTorchServe(i: number): Promise<Reference[]> {
  const res = await fetch(`${server.url}/predictions/resnet-18`, { method: 'PUT', body: new Uint8Array(images[i] as Buffer) });
  expect(res.status).toBe(200);
  const answer = (await res.json()) as Record<string, number>;
  return Object.entries(answer).map(([label, probability]) => ({ index: TORCHSERVE_LABELS.indexOf(label), probability }));
}

const PROTOCOLS = [
  ['/predict', viaPredict],
  ['OIP binary', async (i: number) => (await viaOipBinary([i]))[0] as Reference[]],
  ['OIP JSON classification', viaOipJsonClassification],
  ['gRPC', viaGrpc],
  ['TorchServe', viaTorchServe],
] as const;

describe('every protocol gives classify --json’s answer', () => {
  test.each(PROTOCOLS)('%s, image by image', async (name, via) => {
    for (const i of FILES.keys()) expectSame(await via(i), reference[i], `${name} ${FILES[i]}`);
  });

  test('OIP binary, the eight images in one request (several batches)', async () => {
    const answers = await viaOipBinary([...FILES.keys()]);
    for (const i of FILES.keys()) expectSame(answers[i] as Reference[], reference[i], FILES[i] as string);
  });

  test('OIP FP32 tensors preprocessed by the client give the images’ logits', async () => {
    const tensors = await Promise.all([0, 1].map((i) => preprocess(images[i] as Buffer)));
    const data = new Float32Array(2 * tensors[0]!.length);
    data.set(tensors[0]!, 0);
    data.set(tensors[1]!, tensors[0]!.length);
    const request = tritonInferRequest([{ name: 'input', shape: [2, 3, 224, 224], datatype: 'FP32', data }], [{ name: 'logits' }]);
    const res = await oipPost(request.body, request.headers);
    expect(res.status).toBe(200);
    const { binary } = splitTritonResponse(res.body, res.headers.get('inference-header-content-length') ?? undefined);
    const logits = new Float32Array(new Uint8Array(binary.get('logits') as Buffer).buffer);
    for (const row of [0, 1]) expectSame(top(softmax(logits, row * 1000, 1000)), reference[row], `tensor ${row}`);
  });

  test('classification strings come back as binary BYTES too', async () => {
    const request = tritonInferRequest(
      [{ name: 'image', shape: [1, 1], datatype: 'BYTES', data: [images[2] as Buffer] }],
      [{ name: 'probabilities', classCount: TOP }],
    );
    const res = await oipPost(request.body, request.headers);
    const { binary } = splitTritonResponse(res.body, res.headers.get('inference-header-content-length') ?? undefined);
    const strings = deserializeBytesTensor(binary.get('probabilities') as Buffer);
    expect(strings.map((s) => Number(s.split(':')[1]))).toEqual(reference[2]?.map((p) => p.index));
  });
});

describe('the real classifier’s checks, per element', () => {
  test('an element over the pixel limit fails the batch with 413 IMAGE_TOO_LARGE and its index, from its header', async () => {
    const bomb = await readFile(join(FIXTURES, 'huge-header-30000x30000.png'));
    const request = tritonInferRequest([
      { name: 'image', shape: [3], datatype: 'BYTES', data: [images[0] as Buffer, images[1] as Buffer, bomb] },
    ]);
    const res = await oipPost(request.body, request.headers);
    expect(res.status).toBe(413);
    const body = JSON.parse(res.body.toString());
    expect(body).toMatchObject({ code: 'IMAGE_TOO_LARGE', details: { index: 2, input: 'image' } });
    expect(body.error).toContain('element 2');
  });

  test('a truncated element fails with 422 IMAGE_CORRUPT and its index', async () => {
    const truncated = await readFile(join(FIXTURES, 'truncated.jpg'));
    const request = tritonInferRequest([{ name: 'image', shape: [2], datatype: 'BYTES', data: [truncated, images[0] as Buffer] }]);
    const res = await oipPost(request.body, request.headers);
    expect(res.status).toBe(422);
    expect(JSON.parse(res.body.toString())).toMatchObject({ code: 'IMAGE_CORRUPT', details: { index: 0 } });
  });
});

describe('64 concurrent clients mixing protocols', () => {
  test('each gets the answer its image gets alone', async () => {
    const clients = Array.from({ length: 64 }, (_, c) => {
      const i = c % FILES.length;
      const [name, via] = PROTOCOLS[(c * 3 + Math.floor(c / FILES.length)) % PROTOCOLS.length] as (typeof PROTOCOLS)[number];
      return via(i).then((answer) => ({ name, i, answer }));
    });
    const answers = await Promise.all(clients);
    expect(new Set(answers.map((a) => a.name)).size).toBe(PROTOCOLS.length);
    for (const { name, i, answer } of answers) expectSame(answer, reference[i], `${name} ${FILES[i]}`);
  }, 120_000);
});

describe('gRPC service', () => {
  test('health and metadata', async () => {
    expect(await grpc.call('ServerLive')).toEqual({ live: true });
    expect(await grpc.call('ServerReady')).toEqual({ ready: true });
    expect(await grpc.call('ModelReady', { name: 'resnet18' })).toEqual({ ready: true });
    expect(await grpc.call('ServerMetadata')).toMatchObject({
      name: 'resnet-serve',
      extensions: ['binary_tensor_data', 'classification', 'model_repository'],
    });
    const { version } = await readModelContract(syntheticModel());
    expect(await grpc.call('ModelMetadata', { name: 'resnet18', version })).toMatchObject({
      name: 'resnet18',
      versions: [version],
      platform: 'onnx_onnxv1',
      inputs: [
        { name: 'image', datatype: 'BYTES', shape: [-1] },
        { name: 'input', datatype: 'FP32', shape: [-1, 3, 224, 224] },
      ],
    });
  });

  test.each([
    ['an unknown model', { model_name: 'resnet50', inputs: [] }, 5, 'MODEL_NOT_FOUND'],
    [
      'a wrong datatype',
      { model_name: 'resnet18', inputs: [{ name: 'image', shape: [1], datatype: 'UINT8' }], raw_input_contents: [Buffer.alloc(4)] },
      3,
      'INVALID_ARGUMENT',
    ],
    [
      'an element that is not an image',
      {
        model_name: 'resnet18',
        inputs: [
          { name: 'image', shape: [1], datatype: 'BYTES', contents: { bytes_contents: [Buffer.from('hello world, not a picture')] } },
        ],
      },
      3,
      'UNSUPPORTED_MEDIA_TYPE',
    ],
  ])('%s fails with gRPC status %i and the registry code', async (_, request, grpcStatus, code) => {
    const error = await grpc.call('ModelInfer', request).catch((e: unknown) => e);
    expect((error as { code: number }).code).toBe(grpcStatus);
    expect(codeOf(error)).toBe(code);
  });

  test('classification and the id, over gRPC', async () => {
    const response = await grpc.call<{ id: string; outputs: { datatype: string; shape: number[] }[]; raw_output_contents: Buffer[] }>(
      'ModelInfer',
      {
        model_name: 'resnet18',
        id: 'grpc-1',
        inputs: [{ name: 'image', shape: [1], datatype: 'BYTES', contents: { bytes_contents: [images[0]] } }],
        outputs: [{ name: 'logits', parameters: { classification: { int64_param: 3 } } }],
      },
    );
    expect(response.id).toBe('grpc-1');
    expect(response.outputs[0]).toMatchObject({ datatype: 'BYTES', shape: [1, 3] });
    const strings = deserializeBytesTensor(response.raw_output_contents[0] as Buffer);
    expect(strings.map((s) => Number(s.split(':')[1]))).toEqual(reference[0]?.slice(0, 3).map((p) => p.index));
  });
});
