/**
 * The on-device mode's worker: downloads the model once (kept in Cache Storage under its content-keyed URL),
 * starts onnxruntime-web's WebAssembly backend, and classifies photos sent by the page (with the server's class
 * activation maps when asked, from the fc weights read out of the same model file). Everything heavy — the
 * download, decoding, the resample, the inference — runs here, off the page's thread, so the page stays
 * responsive; ORT's own threads (where the page is cross-origin isolated) are workers started from here.
 */
import type * as Ort from 'onnxruntime-web';
import { messageOf } from '../errors.js';
import { normaliseCam, rawCam } from '../explain/cam.js';
import type { PreprocessRecipe } from '../image/recipe.js';
import { cropBox } from '../image/recipe-geometry.js';
import type { SimdResampler } from '../image/simd-resample.js';
import { postprocess } from '../labels/postprocess.js';
import { type ClassifierHead, readClassifierHead } from '../model/classifier-head.js';
import { FEATURES_NAME } from '../model/features.js';
import { loadResampler, OnDeviceError, preprocessOnDevice } from './on-device-preprocess.js';
import type { FromWorker, ToWorker } from './on-device-protocol.js';

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
  recipe: PreprocessRecipe;
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

async function start(load: Extract<ToWorker, { type: 'load' }>): Promise<Engine> {
  const { runtimeUrl, recipe } = load;
  const resampler = await loadResampler(load.kernelUrl);
  // Not bundled: onnxruntime-web is served by our server from node_modules and loads its glue and .wasm beside it.
  const ort = (await import(/* @vite-ignore */ `${runtimeUrl}ort.wasm.min.mjs`)) as typeof Ort;
  const threads = scope.crossOriginIsolated ? Math.max(1, Math.min(MAX_THREADS, scope.navigator.hardwareConcurrency)) : 1;
  ort.env.wasm.wasmPaths = runtimeUrl;
  ort.env.wasm.numThreads = threads;
  // This is already a worker; ORT's proxy worker would add a copy of every tensor.
  ort.env.wasm.proxy = false;
  const bytes = await modelBytes(load.modelUrl, load.modelBytes);
  scope.postMessage({ type: 'starting' });
  // Read before ORT takes the bytes: fc's weights (2 MB for ResNet-18) are kept, the rest of the file is not.
  const lookup = await readClassifierHead(bytes);
  try {
    const session = await ort.InferenceSession.create(bytes, { executionProviders: ['wasm'], graphOptimizationLevel: 'all' });
    const head = 'head' in lookup && session.outputNames.includes(FEATURES_NAME) ? lookup.head : undefined;
    return { session, ort, resampler, recipe, threads, head };
  } catch (cause) {
    // ORT reports a failed allocation of the 47 MB (fp32) model as an abort or RangeError.
    const text = messageOf(cause);
    if (cause instanceof RangeError || /memory|alloc/i.test(text)) throw new OnDeviceError('MEMORY', text, { cause });
    throw new OnDeviceError('FAILED', text, { cause });
  }
}

async function classify(image: Blob, topK: number, explain: boolean): Promise<Extract<FromWorker, { type: 'result' }>> {
  if (engine === undefined) throw new OnDeviceError('FAILED', 'classify before load');
  const { session, ort, resampler, recipe, threads, head } = await engine;
  const started = performance.now();
  const { tensor, decodeMs, width, height } = await preprocessOnDevice(image, resampler, recipe);
  const t = performance.now();
  const input = new ort.Tensor('float32', tensor, [1, 3, recipe.cropSize, recipe.cropSize]);
  const logitsName = session.outputNames.find((name) => name !== FEATURES_NAME) ?? session.outputNames[0]!;
  // The `features` only when maps are asked for and the model can give them, as on the server.
  const explainWith = explain ? head : undefined;
  const outputs = await session.run(
    { [session.inputNames[0]!]: input },
    explainWith === undefined ? [logitsName] : [logitsName, FEATURES_NAME],
  );
  const logits = outputs[logitsName]?.data;
  if (!(logits instanceof Float32Array)) throw new OnDeviceError('FAILED', 'The model gave no float32 output.');
  const inferenceMs = performance.now() - t;
  // The server's own softmax and top-k (labels/postprocess.ts), so both modes rank and name classes alike.
  const top = postprocess(logits, { topK });
  const timings = { decode: decodeMs, inference: inferenceMs, total: performance.now() - started };
  const features = outputs[FEATURES_NAME]?.data;
  if (explainWith === undefined || !(features instanceof Float32Array))
    return { type: 'result', id: 0, predictions: top, timings, threads };
  // The server's maps (classifier.ts): the same rawCam, normaliseCam and crop box, from the same fc weights.
  const crop = cropBox(width, height, recipe);
  const predictions = top.map((p) => ({
    ...p,
    cam: gridRows(normaliseCam(rawCam(features, explainWith, p.index)), explainWith.grid),
    crop,
  }));
  timings.total = performance.now() - started;
  return { type: 'result', id: 0, predictions, image: { width, height }, timings, threads };
}

/** A map as /predict's JSON has it: `grid` rows of `grid` values (the head's features grid), top row first. */
function gridRows(map: Float32Array, grid: number): number[][] {
  return Array.from({ length: grid }, (_, row) => Array.from(map.subarray(row * grid, (row + 1) * grid)));
}

/** The error message for `error`: its problem, and the image's format where the sentence names it. */
function failure(id: number, error: unknown): Extract<FromWorker, { type: 'error' }> {
  const known = error instanceof OnDeviceError ? error : undefined;
  return { type: 'error', id, problem: known?.code ?? 'FAILED', message: String(error), format: known?.format };
}

scope.onmessage = (event) => {
  const message = event.data;
  if (message.type === 'load') {
    engine ??= start(message);
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
