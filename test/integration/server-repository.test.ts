/**
 * `serve --model-repository DIR`: three models of three kinds (a .pth, a .safetensors converted to int8 as its
 * <stem>.json says, an .onnx) answer through /predict?model=, the Open Inference Protocol over REST and gRPC, and
 * TorchServe's API exactly as `classify` answers with each model alone; the repository extension's index, load and
 * unload behave as Triton's docs/protocol/extension_model_repository.md says.
 */
import { execFile } from 'node:child_process';
import { copyFile, mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { createClassifier } from '../../src/classifier/index.js';
import { buildApp } from '../../src/server/app.js';
import { CLI, type CliProcess, startCli } from '../helpers/cli-process.js';
import { codeOf, type GrpcClient, grpcClient } from '../helpers/grpc-client.js';
import { postImage } from '../helpers/http.js';
import { fileUpload } from '../helpers/multipart.js';
import { freePort } from '../helpers/ports.js';

const run = promisify(execFile);
const FIXTURES = fileURLToPath(new URL('../fixtures/', import.meta.url));
const TINY_PTH = join(FIXTURES, 'model/tiny-resnet18.pth');
const TINY_SAFETENSORS = join(FIXTURES, 'model/tiny-resnet18.safetensors');
const PHOTO = join(FIXTURES, 'images/cmyk-300x240.jpg');
const DIR = fileURLToPath(new URL('../.tmp/server-repository/', import.meta.url));
const REPO = join(DIR, 'repo');
const ENV = { PATH: process.env.PATH ?? '', RESNET_SERVE_HOME: join(DIR, 'home') };
const MODELS = ['alpha', 'beta', 'gamma'] as const;
type Name = (typeof MODELS)[number];

interface Prediction {
  index: number;
  label: string;
  probability: number;
}

/**
 * tiny-resnet18's state_dict with one class's fc.bias raised, so the third model answers differently from the first
 * (safetensors: an 8-byte little-endian header length, the JSON header, then the tensors' bytes).
 */
async function shiftedSafetensors(target: string): Promise<void> {
  const bytes = Buffer.from(await readFile(TINY_SAFETENSORS));
  const headerLength = Number(bytes.readBigUInt64LE(0));
  const header = JSON.parse(bytes.subarray(8, 8 + headerLength).toString('utf8')) as Record<string, { data_offsets: [number, number] }>;
  const at = 8 + headerLength + (header['fc.bias']?.data_offsets[0] ?? Number.NaN) + 4 * 7;
  bytes.writeFloatLE(bytes.readFloatLE(at) + 4, at);
  await writeFile(target, bytes);
}

async function classify(args: string[]): Promise<Prediction[]> {
  const { stdout } = await run(process.execPath, [CLI, 'classify', ...args, '--top', '5', '--json', PHOTO], { env: ENV });
  const [answer] = JSON.parse(stdout) as { predictions: Prediction[] }[];
  return answer?.predictions ?? [];
}

let server: CliProcess;
let url: string;
let grpc: GrpcClient;
const expected = {} as Record<Name, Prediction[]>;

beforeAll(async () => {
  await rm(DIR, { recursive: true, force: true });
  await mkdir(REPO, { recursive: true });
  await copyFile(TINY_PTH, join(REPO, 'alpha.pth'));
  await copyFile(TINY_SAFETENSORS, join(REPO, 'beta.safetensors'));
  await writeFile(join(REPO, 'beta.json'), JSON.stringify({ precision: 'int8' }));
  const shifted = join(DIR, 'shifted.safetensors');
  await shiftedSafetensors(shifted);
  await run(process.execPath, [CLI, 'convert', '--weights', shifted, '--out', join(REPO, 'gamma.onnx')], { env: ENV });
  // A file that is no model is left alone.
  await writeFile(join(REPO, 'README.txt'), 'not a model');
  // Each model alone, as classify runs it: the reference every protocol must match.
  expected.alpha = await classify(['--weights', join(REPO, 'alpha.pth')]);
  expected.beta = await classify(['--weights', join(REPO, 'beta.safetensors'), '--precision', 'int8']);
  expected.gamma = await classify(['--model', join(REPO, 'gamma.onnx')]);
  const grpcPort = await freePort();
  server = startCli([CLI, 'serve', '--host', '127.0.0.1', '--port', '0', '--grpc-port', String(grpcPort), '--model-repository', REPO], ENV);
  url = await server.url;
  for (let waited = 0; (await fetch(`${url}/readyz`)).status !== 200; waited += 100) {
    if (waited > 60_000) throw new Error(`not ready after 60 s:\n${server.stdout()}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  grpc = grpcClient(grpcPort);
}, 180_000);

afterAll(async () => {
  grpc?.close();
  server?.child.kill('SIGTERM');
  await server?.exited;
  await rm(DIR, { recursive: true, force: true });
});

const post = (path: string, body?: unknown) =>
  fetch(`${url}${path}`, { method: 'POST', body: body === undefined ? undefined : JSON.stringify(body) });

/** /predict's top 3 against classify's top 5: the same classes in order, the same probabilities. */
function expectSameTop(actual: Prediction[], reference: Prediction[], digits = 12): void {
  expect(actual.map((p) => p.index)).toEqual(reference.slice(0, actual.length).map((p) => p.index));
  actual.forEach((p, i) => {
    expect(p.probability).toBeCloseTo(reference[i]?.probability ?? Number.NaN, digits);
  });
}

describe('a model repository of three models', () => {
  test('the three references differ, so an answer shows which model gave it', () => {
    expect(expected.alpha[0]?.probability).not.toBeCloseTo(expected.beta[0]?.probability ?? 0, 4);
    expect(expected.gamma.map((p) => p.index)).not.toEqual(expected.alpha.map((p) => p.index));
  });

  test('/predict?model= answers as classify does with that model; no model is the first by name', async () => {
    const photo = await readFile(PHOTO);
    for (const name of MODELS) {
      const answer = await postImage(url, photo, { query: `?model=${name}&top=5` });
      expect(answer.status, answer.body).toBe(200);
      expectSameTop(answer.json?.predictions as Prediction[], expected[name]);
    }
    const byDefault = await postImage(url, photo, { query: '?top=5' });
    expectSameTop(byDefault.json?.predictions as Prediction[], expected.alpha);
    const unknown = await postImage(url, photo, { query: '?model=delta' });
    expect(unknown.status).toBe(404);
    expect(unknown.json).toMatchObject({ code: 'MODEL_NOT_FOUND', details: { model: 'delta' } });
    expect(unknown.json?.error).toContain('"alpha", "beta", "gamma"');
  });

  test('OIP REST: every model has its own metadata, ready and infer routes, with the probabilities of classify', async () => {
    const photo = await readFile(PHOTO);
    for (const name of MODELS) {
      const metadata = await (await fetch(`${url}/v2/models/${name}`)).json();
      expect(metadata).toMatchObject({
        name,
        outputs: expect.arrayContaining([expect.objectContaining({ name: 'probabilities', shape: [-1, 10] })]),
      });
      expect(await (await fetch(`${url}/v2/models/${name}/ready`)).json()).toEqual({ name, ready: true });
      const response = await post(`/v2/models/${name}/infer`, {
        inputs: [{ name: 'image', datatype: 'BYTES', shape: [1], data: [photo.toString('base64')] }],
        outputs: [{ name: 'probabilities' }],
      });
      const answer = (await response.json()) as { model_name: string; model_version: string; outputs: { data: number[] }[] };
      expect(answer.model_name).toBe(name);
      expect(answer.model_version).toBe(metadata.versions[0]);
      const probabilities = answer.outputs[0]?.data ?? [];
      // FP32 on the wire: the classes of classify's top 5 with their probabilities to float32's precision.
      for (const p of expected[name]) expect(probabilities[p.index]).toBeCloseTo(p.probability, 6);
    }
  });

  test('OIP gRPC: ModelInfer by name answers each model, ModelReady and ModelMetadata know all three', async () => {
    const photo = await readFile(PHOTO);
    for (const name of MODELS) {
      expect(await grpc.call('ModelReady', { name })).toEqual({ ready: true });
      expect(await grpc.call('ModelMetadata', { name })).toMatchObject({ name });
      const response = await grpc.call<{ model_name: string; raw_output_contents: Buffer[] }>('ModelInfer', {
        model_name: name,
        inputs: [{ name: 'image', shape: [1], datatype: 'BYTES', contents: { bytes_contents: [photo] } }],
        outputs: [{ name: 'probabilities' }],
      });
      expect(response.model_name).toBe(name);
      const raw = response.raw_output_contents[0] ?? Buffer.alloc(0);
      for (const p of expected[name]) expect(raw.readFloatLE(4 * p.index)).toBeCloseTo(p.probability, 6);
    }
    const error = await grpc.call('ModelInfer', { model_name: 'delta' }).catch((e: unknown) => e);
    expect(codeOf(error)).toBe('MODEL_NOT_FOUND');
  });

  test("TorchServe: /predictions/{name} answers each model's top 5; resnet-18 (its example's name) is the default model", async () => {
    const photo = await readFile(PHOTO);
    for (const name of [...MODELS, 'resnet-18']) {
      const response = await fetch(`${url}/predictions/${name}`, { method: 'PUT', body: photo });
      expect(response.status).toBe(200);
      const text = await response.text();
      const answer = JSON.parse(text) as Record<string, number>;
      const reference = expected[name === 'resnet-18' ? 'alpha' : (name as Name)];
      // tiny-resnet18 has 10 classes, which TorchServe's answer names by their index, most probable first (read from
      // the text: a parsed object orders integer keys numerically).
      expect([...text.matchAll(/"(\d+)":/g)].map((m) => m[1])).toEqual(reference.map((p) => String(p.index)));
      for (const p of reference) expect(answer[String(p.index)]).toBeCloseTo(p.probability, 12);
    }
  });

  test('/config lists the models (name, size, what they are) for the page; /on-device?model= gives each its own file', async () => {
    const config = (await (await fetch(`${url}/config`)).json()) as {
      defaultModel: string;
      models: { name: string; bytes: number; model: { id: string; precision: string } }[];
    };
    expect(config.defaultModel).toBe('alpha');
    expect(config.models.map((m) => [m.name, m.model.precision])).toEqual([
      ['alpha', 'fp32'],
      ['beta', 'int8'],
      ['gamma', 'fp32'],
    ]);
    // int8 weights are about a quarter of fp32's: the sizes are the files'.
    expect(config.models[1]?.bytes).toBeLessThan((config.models[0]?.bytes ?? 0) / 2);
    const urls = new Set<string>();
    for (const model of config.models) {
      const manifest = (await (await fetch(`${url}/on-device?model=${model.name}`)).json()) as {
        model: { url: string; bytes: number; id: string };
      };
      expect(manifest.model).toMatchObject({ bytes: model.bytes, id: model.model.id });
      const file = await fetch(`${url}/${manifest.model.url}`);
      expect((await file.arrayBuffer()).byteLength).toBe(model.bytes);
      urls.add(manifest.model.url);
    }
    expect(urls.size).toBe(3);
    expect((await fetch(`${url}/on-device?model=delta`)).status).toBe(404);
  });

  test('the repository index: name, version, state and reason of each; {"ready": true} lists only those ready', async () => {
    const index = (await (await post('/v2/repository/index')).json()) as { name: string; version: string; state: string; reason: string }[];
    expect(index.map((m) => [m.name, m.state, m.reason])).toEqual(MODELS.map((name) => [name, 'READY', '']));
    for (const entry of index) expect(entry.version).toMatch(/^[0-9a-f]{8}$/);
    const grpcIndex = await grpc.call<{ models: { name: string; state: string }[] }>('RepositoryIndex', { ready: true });
    expect(grpcIndex.models.map((m) => [m.name, m.state])).toEqual(MODELS.map((name) => [name, 'READY']));
    const bad = await post('/v2/repository/index', { ready: 'yes' });
    expect(bad.status).toBe(400);
    expect(await bad.json()).toMatchObject({ code: 'INVALID_ARGUMENT' });
  });

  test('unload: the model answers NOT_READY, shows UNAVAILABLE "unloaded", the others are untouched; load brings it back', async () => {
    const photo = await readFile(PHOTO);
    const unloaded = await post('/v2/repository/models/beta/unload');
    expect(unloaded.status).toBe(200);
    expect(await unloaded.text()).toBe('');
    const index = (await (await post('/v2/repository/index')).json()) as { name: string; state: string; reason: string }[];
    expect(index.find((m) => m.name === 'beta')).toMatchObject({ state: 'UNAVAILABLE', reason: 'unloaded' });
    expect((await (await post('/v2/repository/index', { ready: true })).json()).map((m: { name: string }) => m.name)).toEqual([
      'alpha',
      'gamma',
    ]);
    const refused = await postImage(url, photo, { query: '?model=beta' });
    expect(refused.status).toBe(503);
    expect(refused.json).toMatchObject({ code: 'NOT_READY' });
    expect(refused.json?.error).toContain('/v2/repository/models/beta/load');
    expect((await fetch(`${url}/v2/models/beta/ready`)).status).toBe(503);
    expect((await postImage(url, photo, { query: '?model=gamma&top=5' })).json?.predictions).toHaveLength(5);
    const metrics = await (await fetch(`${url}/metrics`)).text();
    expect(metrics).toContain('resnet_model_loaded{model="beta"} 0');
    expect(metrics).toContain('resnet_model_unloads_total{model="beta",reason="unloaded"} 1');

    // Triton's config and file overrides are refused: a model is its file.
    const override = await post('/v2/repository/models/beta/load', { parameters: { config: '{}' } });
    expect(override.status).toBe(400);
    expect(await override.json()).toMatchObject({ code: 'INVALID_ARGUMENT', details: { parameter: 'config' } });
    const loaded = await post('/v2/repository/models/beta/load');
    expect(loaded.status).toBe(200);
    const again = await postImage(url, photo, { query: '?model=beta&top=5' });
    expectSameTop(again.json?.predictions as Prediction[], expected.beta);
    expect((await post('/v2/repository/models/delta/load')).status).toBe(404);
  });

  test('load and unload over gRPC', async () => {
    await grpc.call('RepositoryModelUnload', { model_name: 'gamma', parameters: { unload_dependents: { bool_param: true } } });
    expect(await grpc.call('ModelReady', { name: 'gamma' })).toEqual({ ready: false });
    const index = await grpc.call<{ models: { name: string; state: string; reason: string }[] }>('RepositoryIndex', {});
    expect(index.models.find((m) => m.name === 'gamma')).toMatchObject({ state: 'UNAVAILABLE', reason: 'unloaded' });
    await grpc.call('RepositoryModelLoad', { model_name: 'gamma' });
    expect(await grpc.call('ModelReady', { name: 'gamma' })).toEqual({ ready: true });
    const error = await grpc.call('RepositoryModelLoad', { model_name: 'delta' }).catch((e: unknown) => e);
    expect(codeOf(error)).toBe('MODEL_NOT_FOUND');
  });
});

describe('a memory budget smaller than the models', () => {
  test('unloads the least recently used idle model and reloads it, under concurrent requests to all three', async () => {
    const cached = await readdir(join(ENV.RESNET_SERVE_HOME, 'models'));
    const files: Record<Name, string> = {
      alpha: join(ENV.RESNET_SERVE_HOME, 'models', cached.find((f) => f.startsWith('alpha-')) ?? 'alpha'),
      beta: join(ENV.RESNET_SERVE_HOME, 'models', cached.find((f) => f.startsWith('beta-')) ?? 'beta'),
      gamma: join(REPO, 'gamma.onnx'),
    };
    // Each counted as 0.6 MB against a budget of 1 MB: one model loaded at a time.
    const app = await buildApp({
      models: MODELS.map((name) => ({
        name,
        bytes: 600_000,
        loadClassifier: ({ observer, maxPixels }) => createClassifier({ model: files[name], observer, maxPixels }),
      })),
      modelMemoryBudgetMb: 1,
    });
    try {
      await app.ready();
      await app.models.start();
      const photo = await readFile(PHOTO);
      const { payload, headers } = fileUpload(photo, 'photo.jpg');
      const order = Array.from({ length: 18 }, (_, i) => MODELS[(i * 7) % 3] as Name);
      const answers = await Promise.all(
        order.map((name) => app.inject({ method: 'POST', url: `/predict?model=${name}&top=5`, payload, headers })),
      );
      answers.forEach((answer, i) => {
        expect(answer.statusCode, answer.body).toBe(200);
        expectSameTop(answer.json().predictions, expected[order[i] as Name]);
      });
      const metrics = (await app.inject('/metrics')).body;
      const evictions = [...metrics.matchAll(/resnet_model_unloads_total\{model="\w+",reason="memory budget"\} (\d+)/g)];
      expect(evictions.reduce((sum, m) => sum + Number(m[1]), 0)).toBeGreaterThanOrEqual(2);
      expect(Number(/resnet_models_loaded_bytes (\d+)/.exec(metrics)?.[1])).toBeLessThanOrEqual(1_000_000);
      const index = app.models.index();
      expect(index.filter((m) => m.state === 'READY')).toHaveLength(1);
      expect(index.filter((m) => m.reason === 'memory budget')).toHaveLength(2);
    } finally {
      await app.close();
    }
  }, 120_000);
});

describe('serve --model-repository refuses what it cannot serve', () => {
  const serveFails = async (args: string[]) => {
    const failed = await run(process.execPath, [CLI, 'serve', '--port', '0', ...args], { env: ENV }).catch(
      (e: { code: number; stderr: string }) => e,
    );
    return failed as { code: number; stderr: string };
  };

  test("combined with one model's flags, an empty folder, or two files of one stem", async () => {
    const withWeights = await serveFails(['--model-repository', REPO, '--weights', TINY_PTH]);
    expect(withWeights.code).toBe(2);
    expect(withWeights.stderr).toContain('--weights');
    const empty = join(DIR, 'empty');
    await mkdir(empty, { recursive: true });
    expect((await serveFails(['--model-repository', empty])).stderr).toContain('holds no model');
    const twice = join(DIR, 'twice');
    await mkdir(twice, { recursive: true });
    await copyFile(TINY_PTH, join(twice, 'm.pth'));
    await copyFile(TINY_SAFETENSORS, join(twice, 'm.safetensors'));
    expect((await serveFails(['--model-repository', twice])).stderr).toContain('m.pth and m.safetensors');
    expect((await serveFails(['--model-repository', join(DIR, 'missing')])).stderr).toContain('INPUT_NOT_FOUND');
  }, 60_000);
});
