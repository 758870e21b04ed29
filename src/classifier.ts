import { DEFAULT_WEIGHTS, DEFAULTS, INPUT_ELEMENTS } from './config.js';
import type { Classifier, ClassifierObserver, ClassifyOptions, ClassifyResult } from './classifier-types.js';
import { BatchQueue } from './engine/batch-queue.js';
import { InferenceEngine } from './engine/session.js';
import { integerInRange, oneOf } from './guards.js';
import { preprocessInto, sniffImageFormat } from './image/index.js';
import { postprocess } from './labels/index.js';
import type { Precision } from './types.js';

export interface ClassifierOptions {
  /** The ONNX model: a path or its bytes (`resnet-serve convert` or `resolveModel()` makes one). */
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
  /** Largest decoded image, in pixels. Default DEFAULTS.maxPixels. */
  maxPixels?: number;
  observer?: ClassifierObserver;
}

interface Job {
  bytes: Uint8Array;
  topK: number;
  startedAt: number;
}

/**
 * Loads the model once (session created, checked and warmed up) and returns the classifier every shell
 * (server, CLI, library) uses: preprocess → batched inference → postprocess.
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
  const precision = oneOf('precision', options.precision ?? 'fp32', ['fp32', 'int8'] as const);
  const engine = await InferenceEngine.create(options.model, {
    threads: integerInRange('threads', options.threads ?? DEFAULTS.intraOpThreads, 1, 256),
  });
  const observer = options.observer ?? {};
  // One batch tensor for the life of the process: images are decoded straight into their row.
  const batch = new Float32Array(maxBatch * INPUT_ELEMENTS);

  const runBatch = async (jobs: readonly Job[]): Promise<PromiseSettledResult<ClassifyResult>[]> => {
    const decodeMs: number[] = [];
    const decoded = await Promise.allSettled(jobs.map(async (job, row) => {
      const t0 = performance.now();
      await preprocessInto(job.bytes, batch, row * INPUT_ELEMENTS, { maxPixels });
      decodeMs[row] = performance.now() - t0;
    }));
    // Rows that failed to decode are squeezed out so the session only sees real images.
    const rowOf: number[] = [];
    let rows = 0;
    decoded.forEach((result, row) => {
      if (result.status !== 'fulfilled') return;
      if (rows !== row) batch.copyWithin(rows * INPUT_ELEMENTS, row * INPUT_ELEMENTS, (row + 1) * INPUT_ELEMENTS);
      rowOf[row] = rows++;
    });
    let logits: Float32Array = new Float32Array(0);
    let inferenceMs = 0;
    if (rows > 0) {
      const t0 = performance.now();
      logits = await engine.infer(batch, rows);
      inferenceMs = performance.now() - t0;
      observer.onBatch?.(rows, inferenceMs);
    }
    return jobs.map((job, row): PromiseSettledResult<ClassifyResult> => {
      const result = decoded[row];
      const outRow = rowOf[row];
      if (result?.status === 'rejected') return result;
      if (outRow === undefined) throw new Error('unreachable: a decoded row has no output row');
      const predictions = postprocess(logits, { topK: job.topK, offset: outRow * engine.classes, classes: engine.classes });
      return {
        status: 'fulfilled',
        value: {
          predictions,
          timings_ms: { decode: decodeMs[row] ?? 0, inference: inferenceMs, total: performance.now() - job.startedAt },
        },
      };
    });
  };

  const queue = new BatchQueue<Job, ClassifyResult>(runBatch, {
    maxBatch,
    batchWaitMs: integerInRange('batchWaitMs', options.batchWaitMs ?? DEFAULTS.batchWaitMs, 0, 1000),
    maxQueue: integerInRange('maxQueue', options.maxQueue ?? DEFAULTS.maxQueue, 1),
    timeoutMs: integerInRange('requestTimeoutMs', options.requestTimeoutMs ?? DEFAULTS.requestTimeoutMs, 1),
    onDepth: (depth) => observer.onQueueDepth?.(depth),
  });

  let closing: Promise<void> | undefined;
  return {
    modelName: options.modelName ?? DEFAULT_WEIGHTS.modelName,
    precision,
    async classify(bytes: Uint8Array, classifyOptions: ClassifyOptions = {}): Promise<ClassifyResult> {
      const startedAt = performance.now();
      const topK = integerInRange('topK', classifyOptions.topK ?? DEFAULTS.topK, 1, Math.min(DEFAULTS.maxTopK, engine.classes));
      // Refuse what is not an image before it takes a place in the queue.
      sniffImageFormat(bytes);
      return queue.submit({ bytes, topK, startedAt });
    },
    queueDepth: () => queue.depth,
    close(): Promise<void> {
      closing ??= queue.close().then(() => engine.release());
      return closing;
    },
  };
}
