/**
 * The on-device mode's worker: downloads the model once (kept in Cache Storage under its content-keyed URL),
 * starts onnxruntime-web's WebAssembly backend, and classifies photos sent by the page (with the server's class
 * activation maps when asked, from the fc weights read out of the same model file). Everything heavy — the
 * download, decoding, the resample, the inference — runs here, off the page's thread, so the page stays
 * responsive; ORT's own threads (where the page is cross-origin isolated) are workers started from here.
 */
import type * as Ort from 'onnxruntime-web';
import { messageOf } from '../errors.js';
import { type ClassifierHead, cropBox, normaliseCam, rawCam } from '../explain/cam.js';
import type { SimdResampler } from '../image/simd-resample.js';
import { IMAGENET_LABELS_EN } from '../labels/imagenet-en.js';
import { IMAGENET_LABELS_ZH } from '../labels/imagenet-zh.js';
import { readClassifierHead } from '../model/classifier-head.js';
import { FEATURE_GRID, FEATURES_NAME } from '../model/features.js';
import { loadResampler, OnDeviceError, preprocessOnDevice } from './on-device-preprocess.js';
import type { FromWorker, ToWorker, WorkerPrediction } from './on-device-protocol.js';

/** Cache Storage bucket of the model; older models in it are deleted when a new one arrives. */
const MODEL_CACHE = 'resnet-serve-model';
/** ORT's WebAssembly threads: more than 4 gain little for one batch-1 ResNet-18 and cost memory on phones. */
const MAX_THREADS = 4;

interface WorkerScope {
  postMessage(message: FromWorker): void;
  onmessage: ((event: MessageEvent<ToWorker>) => void) | null;
  readonly crossOriginIsolated: boolean;
  readonly navigator: { readonly hardwareConcurrency: number };
  readonly caches?: CacheStorage;
}
const scope = self as unknown as WorkerScope;

interface Engine {
  session: Ort.InferenceSession;
  ort: typeof Ort;
  resampler: SimdResampler;
  threads: number;
  /** The fc weights, for "Show where it looked"; `undefined` when the model has no `features` output or no readable fc. */
  head: ClassifierHead | undefined;
}
let engine: Promise<Engine> | undefined;

/** The model bytes: from Cache Storage when this URL was downloaded before, else over the network with progress. */
async function modelBytes(url: string, expected: number): Promise<Uint8Array> {
  // Cache Storage exists only in secure contexts (https, localhost); elsewhere the HTTP cache still applies.
  const cache = scope.caches === undefined ? undefined : await scope.caches.open(MODEL_CACHE);
  const cached = await cache?.match(url);
  if (cached !== undefined) {
    scope.postMessage({ type: 'progress', loaded: expected, total: expected });
    return new Uint8Array(await cached.arrayBuffer());
  }
  const response = await fetch(url);
  if (!response.ok || response.body === null) throw new OnDeviceError('FAILED', `GET ${url} answered ${response.status}.`);
  const total = Number(response.headers.get('content-length')) || expected;
  const bytes = new Uint8Array(total);
  let loaded = 0;
  const reader = response.body.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    bytes.set(value, loaded);
    loaded += value.byteLength;
    scope.postMessage({ type: 'progress', loaded, total });
  }
  if (cache !== undefined) {
    for (const old of await cache.keys()) if (old.url !== new URL(url).href) await cache.delete(old);
    await cache.put(url, new Response(bytes, { headers: { 'content-type': 'application/octet-stream' } }));
  }
  return bytes;
}

async function start(modelUrl: string, modelSize: number, runtimeUrl: string, kernelUrl: string): Promise<Engine> {
  const resampler = await loadResampler(kernelUrl);
  // Not bundled: onnxruntime-web is served by our server from node_modules and loads its glue and .wasm beside it.
  const ort = (await import(/* @vite-ignore */ `${runtimeUrl}ort.wasm.min.mjs`)) as typeof Ort;
  const threads = scope.crossOriginIsolated ? Math.max(1, Math.min(MAX_THREADS, scope.navigator.hardwareConcurrency)) : 1;
  ort.env.wasm.wasmPaths = runtimeUrl;
  ort.env.wasm.numThreads = threads;
  // This is already a worker; ORT's proxy worker would add a copy of every tensor.
  ort.env.wasm.proxy = false;
  const bytes = await modelBytes(modelUrl, modelSize);
  scope.postMessage({ type: 'starting' });
  // Read before ORT takes the bytes: fc's weights (2 MB for ResNet-18) are kept, the rest of the file is not.
  const lookup = await readClassifierHead(bytes);
  try {
    const session = await ort.InferenceSession.create(bytes, { executionProviders: ['wasm'], graphOptimizationLevel: 'all' });
    const head = 'head' in lookup && session.outputNames.includes(FEATURES_NAME) ? lookup.head : undefined;
    return { session, ort, resampler, threads, head };
  } catch (cause) {
    // ORT reports a failed allocation of the 47 MB (fp32) model as an abort or RangeError.
    const text = messageOf(cause);
    if (cause instanceof RangeError || /memory|alloc/i.test(text)) throw new OnDeviceError('MEMORY', text, { cause });
    throw new OnDeviceError('FAILED', text, { cause });
  }
}

/**
 * torch.softmax's way (maximum subtracted, float64 sum), then the `topK` largest — what the server's
 * labels/postprocess.ts computes; not imported from there because that module reads the Node-side settings.
 */
function topPredictions(logits: Float32Array, topK: number): WorkerPrediction[] {
  let max = -Infinity;
  for (const value of logits) max = Math.max(max, value);
  const exps = Float64Array.from(logits, (value) => Math.exp(value - max));
  const sum = exps.reduce((a, b) => a + b, 0);
  const order = [...exps.keys()].sort((a, b) => exps[b]! - exps[a]! || a - b).slice(0, topK);
  return order.map((index) => ({
    index,
    label: IMAGENET_LABELS_EN[index] ?? `class_${index}`,
    label_zh: IMAGENET_LABELS_ZH[index] ?? `class_${index}`,
    probability: exps[index]! / sum,
  }));
}

async function classify(image: Blob, topK: number, explain: boolean): Promise<Extract<FromWorker, { type: 'result' }>> {
  if (engine === undefined) throw new OnDeviceError('FAILED', 'classify before load');
  const { session, ort, resampler, threads, head } = await engine;
  const started = performance.now();
  const { tensor, decodeMs, width, height } = await preprocessOnDevice(image, resampler);
  const t = performance.now();
  const input = new ort.Tensor('float32', tensor, [1, 3, 224, 224]);
  const logitsName = session.outputNames.find((name) => name !== FEATURES_NAME) ?? session.outputNames[0]!;
  // layer4's `features` only when maps are asked for and the model can give them, as on the server.
  const explainWith = explain ? head : undefined;
  const outputs = await session.run(
    { [session.inputNames[0]!]: input },
    explainWith === undefined ? [logitsName] : [logitsName, FEATURES_NAME],
  );
  const logits = outputs[logitsName]?.data;
  if (!(logits instanceof Float32Array)) throw new OnDeviceError('FAILED', 'The model gave no float32 output.');
  const inferenceMs = performance.now() - t;
  const top = topPredictions(logits, topK);
  const timings = { decode: decodeMs, inference: inferenceMs, total: performance.now() - started };
  const features = outputs[FEATURES_NAME]?.data;
  if (explainWith === undefined || !(features instanceof Float32Array))
    return { type: 'result', id: 0, predictions: top, timings, threads };
  // The server's maps (classifier.ts): the same rawCam, normaliseCam and crop box, from the same fc weights.
  const crop = cropBox(width, height);
  const predictions = top.map((p) => ({ ...p, cam: gridRows(normaliseCam(rawCam(features, explainWith, p.index))), crop }));
  timings.total = performance.now() - started;
  return { type: 'result', id: 0, predictions, image: { width, height }, timings, threads };
}

/** A map as /predict's JSON has it: FEATURE_GRID rows of FEATURE_GRID values, top row first. */
function gridRows(map: Float32Array): number[][] {
  return Array.from({ length: FEATURE_GRID }, (_, row) => Array.from(map.subarray(row * FEATURE_GRID, (row + 1) * FEATURE_GRID)));
}

/** The error message for `error`: its problem, and the image's format where the sentence names it. */
function failure(id: number, error: unknown): Extract<FromWorker, { type: 'error' }> {
  const known = error instanceof OnDeviceError ? error : undefined;
  return { type: 'error', id, problem: known?.code ?? 'FAILED', message: String(error), format: known?.format };
}

scope.onmessage = (event) => {
  const message = event.data;
  if (message.type === 'load') {
    engine ??= start(message.modelUrl, message.modelBytes, message.runtimeUrl, message.kernelUrl);
    engine.then(
      ({ threads }) => scope.postMessage({ type: 'ready', threads }),
      (error: unknown) => {
        engine = undefined; // a later attempt may succeed (network back, memory freed)
        scope.postMessage(failure(-1, error));
      },
    );
    return;
  }
  classify(message.image, message.topK, message.explain).then(
    (result) => scope.postMessage({ ...result, id: message.id }),
    (error: unknown) => scope.postMessage(failure(message.id, error)),
  );
};
