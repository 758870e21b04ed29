import { DEFAULT_WEIGHTS, DEFAULTS, INPUT_ELEMENTS, cacheDir } from './config.js';
import type { Classifier, ClassifierObserver, ClassifyOptions, ClassifyResult } from './classifier-types.js';
import { BatchQueue } from './engine/batch-queue.js';
import { Semaphore, TensorPool } from './engine/semaphore.js';
import { ResnetServeError } from './errors.js';
import { InferenceEngine } from './engine/session.js';
import { integerInRange, oneOf } from './guards.js';
import { preprocessWithHeaderInto, readImageHeader, sniffImageFormat, type ImageHeader } from './image/index.js';
import { postprocess } from './labels/index.js';
import type { Precision, Prediction } from './types.js';

export interface ClassifierOptions {
  /**
   * The ONNX model: a path or its bytes (`resnet-serve convert` or `resolveModel()` makes one). A path is
   * lighter: it is compiled once for this CPU and its weights are mapped from disk, while bytes are copied to the
   * session thread and optimised at every load.
   */
  model: string | Uint8Array;
  /** Reported in HTTP answers. Default `resnet18-imagenet1k-v1`. */
  modelName?: string;
  /** What the model computes in; reported, not applied. Default `fp32`. */
  precision?: Precision;
  /** ONNX Runtime intra-op threads. Default: the machine's cores. */
  threads?: number;
  /** Images per ONNX Runtime run. Default DEFAULTS.maxBatch. */
  maxBatch?: number;
  /** How long a lone request waits for company, in ms. Default DEFAULTS.batchWaitMs. */
  batchWaitMs?: number;
  /** Requests queued or running before QUEUE_FULL. Default DEFAULTS.maxQueue. */
  maxQueue?: number;
  /** Longest wait in the queue before TIMEOUT, in ms. Default DEFAULTS.requestTimeoutMs. */
  requestTimeoutMs?: number;
  /** Where the model compiled for this CPU is cached when `model` is a path. Default `cacheDir()`. */
  cacheDir?: string;
  /** Images decoded at once, on sharp's threads, while a batch runs. Default DEFAULTS.decodeConcurrency. */
  decodeConcurrency?: number;
  /** Largest decoded image, in pixels. Default DEFAULTS.maxPixels. */
  maxPixels?: number;
  observer?: ClassifierObserver;
}

interface Job {
  tensor: Float32Array;
  topK: number;
}

interface Inferred {
  predictions: Prediction[];
  inferenceMs: number;
}

/**
 * Images of more pixels than this decode alone, in every decode slot: decoding a 12-megapixel JPEG holds
 * about 15 MB (libvips' buffers and the reduced pixels), so two at once added 30 MB to the peak (measured).
 * 4 MP keeps photos up to 2560×1600 decoding side by side.
 */
const DECODE_ALONE_PIXELS = 4_000_000;

const decodeSlots = (header: ImageHeader): number => (header.pixels > DECODE_ALONE_PIXELS ? Number.POSITIVE_INFINITY : 1);

/**
 * Loads the model once (session created, checked and warmed up) and returns the classifier every shell
 * (server, CLI, library) uses: preprocess → batched inference → postprocess.
 *
 * Decoding and inference overlap: up to `decodeConcurrency` images are decoded (on sharp's threads) while
 * the session runs a batch. Every request holds one tensor from a fixed pool from decode to answer, so the
 * memory taken by tensors is `(maxBatch + decodeConcurrency + 1) × 602 KB` whatever the load.
 *
 * @throws ResnetServeError MODEL_INVALID, INVALID_ARGUMENT.
 * @example
 * const classifier = await createClassifier({ model: 'resnet18.onnx' });
 * const { predictions } = await classifier.classify(await readFile('cat.jpg'));
 * // predictions[0] → { index: 281, label: 'tabby', label_zh: '虎斑猫', probability: 0.71 }
 */
export async function createClassifier(options: ClassifierOptions): Promise<Classifier> {
  const maxBatch = integerInRange('maxBatch', options.maxBatch ?? DEFAULTS.maxBatch, 1, 64);
  const maxPixels = integerInRange('maxPixels', options.maxPixels ?? DEFAULTS.maxPixels, 1);
  const maxQueue = integerInRange('maxQueue', options.maxQueue ?? DEFAULTS.maxQueue, 1);
  const decodeConcurrency = integerInRange('decodeConcurrency', options.decodeConcurrency ?? DEFAULTS.decodeConcurrency, 1, 64);
  const batchWaitMs = integerInRange('batchWaitMs', options.batchWaitMs ?? DEFAULTS.batchWaitMs, 0, 1000);
  const timeoutMs = integerInRange('requestTimeoutMs', options.requestTimeoutMs ?? DEFAULTS.requestTimeoutMs, 1);
  const threads = integerInRange('threads', options.threads ?? DEFAULTS.intraOpThreads, 1, 256);
  const precision = oneOf('precision', options.precision ?? 'fp32', ['fp32', 'int8'] as const);
  // Every option is checked above: nothing can throw between starting the session thread and returning.
  const engine = await InferenceEngine.create(options.model, { threads, cacheDir: options.cacheDir ?? cacheDir() });
  const observer = options.observer ?? {};
  // One batch tensor for the life of the process; requests' tensors are copied into its rows. Shared
  // memory: the session thread reads it without a structured-clone copy per batch.
  const batch = new Float32Array(new SharedArrayBuffer(maxBatch * INPUT_ELEMENTS * Float32Array.BYTES_PER_ELEMENT));
  // +1: a full batch in the session, the next one being decoded, and one more ready to join it.
  const tensors = new TensorPool(maxBatch + decodeConcurrency + 1, INPUT_ELEMENTS);
  const decoding = new Semaphore(decodeConcurrency);

  const runBatch = async (jobs: readonly Job[]): Promise<PromiseSettledResult<Inferred>[]> => {
    jobs.forEach((job, row) => batch.set(job.tensor, row * INPUT_ELEMENTS));
    const t0 = performance.now();
    const logits = await engine.infer(batch, jobs.length);
    const inferenceMs = performance.now() - t0;
    observer.onBatch?.(jobs.length, inferenceMs);
    return jobs.map((job, row) => ({
      status: 'fulfilled',
      value: { predictions: postprocess(logits, { topK: job.topK, offset: row * engine.classes, classes: engine.classes }), inferenceMs },
    }));
  };

  const queue = new BatchQueue<Job, Inferred>(runBatch, { maxBatch, batchWaitMs, timeoutMs });

  let pending = 0;
  let closing: Promise<void> | undefined;
  let drained: (() => void) | undefined;
  const settle = (): void => {
    // sharp hands each decoded image over as an external Buffer that V8 frees only at a GC, and V8 waits
    // for ~64 MB of such garbage before collecting: measured +38 MB RSS over 32 requests. A young-generation
    // GC (~0.5 ms) frees it at once. Only where `gc` is exposed, as the `resnet-serve` command does.
    globalThis.gc?.({ type: 'minor' });
    pending--;
    observer.onQueueDepth?.(pending);
    if (pending === 0) drained?.();
  };

  return {
    modelName: options.modelName ?? DEFAULT_WEIGHTS.modelName,
    precision,
    async classify(bytes: Uint8Array, classifyOptions: ClassifyOptions = {}): Promise<ClassifyResult> {
      const startedAt = performance.now();
      const topK = integerInRange('topK', classifyOptions.topK ?? DEFAULTS.topK, 1, Math.min(DEFAULTS.maxTopK, engine.classes));
      // Refuse what is not an image before it takes a place in the queue.
      sniffImageFormat(bytes);
      if (closing !== undefined) throw new ResnetServeError('NOT_READY', 'The classifier is shutting down.');
      if (pending >= maxQueue) {
        throw new ResnetServeError('QUEUE_FULL', `The inference queue is full (${maxQueue} requests); try again shortly.`, { details: { maxQueue } });
      }
      pending++;
      observer.onQueueDepth?.(pending);
      try {
        const tensor = await tensors.acquire();
        try {
          const t0 = performance.now();
          const header = await readImageHeader(bytes, maxPixels);
          const headerMs = performance.now() - t0;
          const decodeMs = headerMs + await decoding.use(async () => {
            const t1 = performance.now();
            await preprocessWithHeaderInto(bytes, header, tensor, 0, maxPixels);
            return performance.now() - t1;
          }, decodeSlots(header));
          const { predictions, inferenceMs } = await queue.submit({ tensor, topK }, startedAt);
          return { predictions, timings_ms: { decode: decodeMs, inference: inferenceMs, total: performance.now() - startedAt } };
        } finally {
          tensors.release(tensor);
        }
      } finally {
        settle();
      }
    },
    queueDepth: () => pending,
    close(): Promise<void> {
      closing ??= (async () => {
        if (pending > 0) await new Promise<void>((resolve) => { drained = resolve; });
        await queue.close();
        await engine.release();
      })();
      return closing;
    },
  };
}
