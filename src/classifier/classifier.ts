import { BatchQueue } from '../engine/batch-queue.js';
import { InferenceEngine } from '../engine/inference-engine.js';
import { Semaphore } from '../engine/semaphore.js';
import { TensorPool } from '../engine/tensor-pool.js';
import { notReady, ResnetServeError } from '../errors.js';
import { camCells, normaliseCam, rawCam } from '../explain/cam.js';
import { exactLength, integerInRange } from '../guards.js';
import { decodedBytes, type ImageHeader, preprocessWithHeaderInto, readImageHeader, sniffDecodableFormat } from '../image/index.js';
import { inputElements } from '../image/recipe.js';
import { cropBox } from '../image/recipe-geometry.js';
import { IMAGENET_LABELS, type LabelSet, postprocess, TOP_K } from '../labels/index.js';
import { type ClassifierHead, readClassifierHead } from '../model/classifier-head.js';
import type { ModelContract } from '../model/contract.js';
import { fileSource } from '../model/onnx/file-source.js';
import { readModelContract } from '../model/read-contract.js';
import { type ClassifierOptions, resolveClassifierOptions } from './options.js';
import type { Classifier, ClassifyOptions, ClassifyResult, InferOptions, InferResult } from './types.js';

interface Job {
  tensor: Float32Array;
  /** This request wants maps: the batch then fetches the features too. */
  withFeatures?: boolean;
}

interface Inferred {
  /** The job's own row of the batch's logits, copied out of the engine's buffer. */
  logits: Float32Array;
  inferenceMs: number;
  /** The job's own features (channels × grid × grid), when it asked for them. */
  features?: Float32Array;
}

/** What one request through the queue gives: `InferResult`, plus the features and image size when asked for. */
interface Run extends InferResult {
  features?: Float32Array;
  image?: { width: number; height: number };
}

/**
 * At most one image of more pixels than this decodes at a time: decoding a 12-megapixel JPEG holds about 15 MB
 * (libvips' buffers and the reduced pixels), so two at once added 30 MB to the peak (measured). Smaller images go
 * on decoding beside it, so a burst of large images (or decompression bombs) does not hold up a small photo.
 * 4 MP keeps photos up to 2560×1600 decoding side by side.
 */
const LARGE_IMAGE_PIXELS = 4_000_000;
/** Names for a model whose classes are not ImageNet's: none, so postprocess numbers them (`class_17`). */
const NUMBERED: LabelSet = Object.freeze({ en: [], zh: [] });
/**
 * Loads the model once (session created, checked and warmed up) and returns the classifier every shell
 * (server, CLI, library) uses: admit → decode → infer → answer.
 *
 * Decoding and inference overlap: up to `decodeConcurrency` images are decoded (on sharp's threads) while
 * the session runs a batch. Every request holds one tensor from a fixed pool from decode to answer, so the
 * memory taken by tensors is `(maxBatch + decodeConcurrency + 1) × 3 × crop² × 4 bytes` whatever the load (602 KB
 * each at ResNet-18's 224 px). Everything model-specific — the recipe, the input size, the classes and their names,
 * the maps' grid — comes from the model's contract (model/contract.ts).
 *
 * @throws ResnetServeError MODEL_INVALID, INVALID_ARGUMENT (an option outside its range in ./options.ts, or a
 *   malformed `<stem>.json` beside the model).
 * @example
 * const classifier = await createClassifier({ model: 'resnet18.onnx' });
 * const { predictions } = await classifier.classify(await readFile('cat.jpg'));
 * // predictions[0] → { index: 281, label: 'tabby', label_zh: '虎斑猫', probability: 0.71 }
 */
export async function createClassifier(options: ClassifierOptions): Promise<Classifier> {
  const resolved = resolveClassifierOptions(options);
  const { maxBatch, maxPixels, maxQueue, decodeConcurrency, decodeBudgetBytes, batchWaitMs, threads, observer } = resolved;
  const contract = resolved.contract ?? (await readModelContract(resolved.model, { cacheDir: resolved.cacheDir }));
  const { recipe, classes } = contract;
  const elements = inputElements(recipe);
  const labels = contract.labels === 'imagenet-1k' ? IMAGENET_LABELS : NUMBERED;
  // Every option is checked above: nothing can throw between starting the session thread and returning.
  const engine = await InferenceEngine.create(resolved.model, { threads, cacheDir: resolved.cacheDir, contract });
  const maxTopK = Math.min(TOP_K.max, classes);
  // One batch tensor for the life of the process; requests' tensors are copied into its rows. Shared
  // memory: the session thread reads it without a structured-clone copy per batch.
  const batch = new Float32Array(new SharedArrayBuffer(maxBatch * elements * Float32Array.BYTES_PER_ELEMENT));
  // +1: a full batch in the session, the next one being decoded, and one more ready to join it.
  const tensors = new TensorPool(maxBatch + decodeConcurrency + 1, elements);
  const decoding = new Semaphore(decodeConcurrency);
  const largeDecodes = new Semaphore(1);
  // Bytes of decoded pixels in flight: waiting here, never past the budget, is what bounds decoding memory.
  const decodeBudget = new Semaphore(decodeBudgetBytes);
  let decodingNow = 0;
  let largeNow = 0;

  const runBatch = async (jobs: readonly Job[]): Promise<PromiseSettledResult<Inferred>[]> => {
    for (const [row, job] of jobs.entries()) batch.set(job.tensor, row * elements);
    const t0 = performance.now();
    const { logits, features } = await engine.infer(
      batch,
      jobs.length,
      jobs.some((job) => job.withFeatures === true),
    );
    const inferenceMs = performance.now() - t0;
    observer.onBatch?.(jobs.length, inferenceMs);
    const perImage = contract.features === undefined ? 0 : contract.features.channels * camCells(contract.features);
    return jobs.map((job, row) => ({
      status: 'fulfilled',
      value: {
        logits: logits.slice(row * classes, (row + 1) * classes),
        inferenceMs,
        ...(job.withFeatures === true && features !== undefined ? { features: features.slice(row * perImage, (row + 1) * perImage) } : {}),
      },
    }));
  };

  let head: Promise<ClassifierHead> | undefined;
  /** The fc layer, read from the model file at the first explanation asked for (2 MB for ResNet-18's 512 × 1000). */
  const explainHead = (): Promise<ClassifierHead> => {
    head ??= loadHead(resolved.model, contract);
    return head;
  };

  const queue = new BatchQueue<Job, Inferred>(runBatch, { maxBatch, batchWaitMs, timeoutMs: resolved.requestTimeoutMs });

  let pending = 0;
  let closing: Promise<void> | undefined;
  let drained: (() => void) | undefined;

  /** Takes a place among the `maxQueue` admitted requests, or refuses; `leave` gives it back. */
  const admit = (): void => {
    if (closing !== undefined) throw notReady('The classifier is shutting down.');
    if (pending >= maxQueue) {
      throw new ResnetServeError(
        'QUEUE_FULL',
        { maxQueue },
        {
          details: { maxQueue },
        },
      );
    }
    pending++;
    observer.onQueueDepth?.(pending);
  };
  const leave = (): void => {
    // sharp hands each decoded image over as an external Buffer that V8 frees only at a GC, and V8 waits
    // for ~64 MB of such garbage before collecting: measured +38 MB RSS over 32 requests. A young-generation
    // GC (~0.5 ms) frees it at once. Only where `gc` is exposed, as the `resnet-serve` command does.
    globalThis.gc?.({ type: 'minor' });
    pending--;
    observer.onQueueDepth?.(pending);
    if (pending === 0) drained?.();
  };

  /**
   * Reads the header, then decodes into a tensor of the pool once the image's pixels fit in the decode budget,
   * a decode slot is free and (for a large image) no other large one decodes. The tensor is taken last, so
   * images waiting to decode hold none. Returns the tensor, which the caller releases, the header and the
   * milliseconds.
   */
  const decode = async (bytes: Uint8Array): Promise<{ tensor: Float32Array; header: ImageHeader; decodeMs: number }> => {
    const t0 = performance.now();
    const header = await readImageHeader(bytes, maxPixels);
    const cost = decodedBytes(header, recipe);
    if (cost > decodeBudgetBytes) {
      const facts = { width: header.width, height: header.height, decodedBytes: cost, decodeBudgetBytes };
      throw new ResnetServeError('IMAGE_OVER_BUDGET', facts, { details: facts });
    }
    const lane = header.pixels > LARGE_IMAGE_PIXELS ? largeDecodes : undefined;
    await lane?.acquire();
    try {
      return await decodeBudget.use(
        () =>
          decoding.use(async () => {
            const tensor = await tensors.acquire();
            if (lane !== undefined) largeNow++;
            observer.onDecodeStart?.(header.pixels, ++decodingNow, largeNow);
            try {
              await preprocessWithHeaderInto(bytes, header, tensor, 0, maxPixels, recipe);
              return { tensor, header, decodeMs: performance.now() - t0 };
            } catch (error) {
              tensors.release(tensor);
              throw error;
            } finally {
              decodingNow--;
              if (lane !== undefined) largeNow--;
            }
          }),
        cost,
      );
    } finally {
      lane?.release();
    }
  };

  /** One image or tensor through admission, decoding (for an image) and the batching queue. */
  const run = async (input: Uint8Array | Float32Array, withFeatures: boolean): Promise<Run> => {
    const startedAt = performance.now();
    if (input instanceof Float32Array) {
      exactLength('input.length', input.length, elements, `values (a 3×${recipe.cropSize}×${recipe.cropSize} Float32Array)`);
      admit();
      try {
        const { logits, inferenceMs, features } = await queue.submit({ tensor: input, withFeatures }, startedAt);
        return { logits, features, timings_ms: { decode: 0, inference: inferenceMs, total: performance.now() - startedAt } };
      } finally {
        leave();
      }
    }
    // Refuse what is not an image this build decodes (BMP, HEIC included) before it takes a place in the queue.
    sniffDecodableFormat(input);
    admit();
    try {
      const { tensor, header, decodeMs } = await decode(input);
      try {
        const { logits, inferenceMs, features } = await queue.submit({ tensor, withFeatures }, startedAt);
        const timings_ms = { decode: decodeMs, inference: inferenceMs, total: performance.now() - startedAt };
        return { logits, features, image: { width: header.width, height: header.height }, timings_ms };
      } finally {
        tensors.release(tensor);
      }
    } finally {
      leave();
    }
  };

  return {
    model: contract,
    limits: Object.freeze({ maxPixels, maxTopK, requestTimeoutMs: resolved.requestTimeoutMs }),
    async classify(bytes: Uint8Array, classifyOptions: ClassifyOptions = {}): Promise<ClassifyResult> {
      const topK = integerInRange('topK', classifyOptions.topK ?? TOP_K.default, TOP_K.min, maxTopK);
      // Before admission: a model that cannot explain says so at once, whatever the image.
      const explainWith = classifyOptions.explain === true ? await explainHead() : undefined;
      const { logits, timings_ms, features, image } = await run(bytes, explainWith !== undefined);
      const predictions = postprocess(logits, { topK, labels });
      if (explainWith === undefined || features === undefined || image === undefined) return { predictions, timings_ms };
      const maps = predictions.map((p) => normaliseCam(rawCam(features, explainWith, p.index)));
      const crop = cropBox(image.width, image.height, recipe);
      return { predictions, timings_ms, explanation: { image, crop, grid: explainWith.grid, maps } };
    },
    async infer(input: Uint8Array | Float32Array, inferOptions: InferOptions = {}): Promise<InferResult> {
      const explainWith = inferOptions.explain === true ? await explainHead() : undefined;
      const { logits, timings_ms, features } = await run(input, explainWith !== undefined);
      if (explainWith === undefined || features === undefined) return { logits, timings_ms };
      const [top] = postprocess(logits, { topK: 1, labels });
      return { logits, timings_ms, cam: normaliseCam(rawCam(features, explainWith, top?.index ?? 0)) };
    },
    queueDepth: () => pending,
    close(): Promise<void> {
      closing ??= (async () => {
        if (pending > 0)
          await new Promise<void>((resolve) => {
            drained = resolve;
          });
        await queue.close();
        await engine.release();
      })();
      return closing;
    },
  };
}

/**
 * Reads the fc layer the maps need and checks it against the contract: same classes, as many inputs as the
 * `features` output has channels, and its grid.
 * @throws ResnetServeError EXPLAIN_UNAVAILABLE saying what the model lacks.
 */
async function loadHead(model: string | Uint8Array, contract: ModelContract): Promise<ClassifierHead> {
  const unavailable = (reason: string): ResnetServeError =>
    new ResnetServeError('EXPLAIN_UNAVAILABLE', { reason }, { details: { reason } });
  const { features, classes } = contract;
  if (features === undefined) throw unavailable(contract.unexplainable ?? 'it has no features output');
  const lookup = await readClassifierHead(typeof model === 'string' ? await fileSource(model) : model);
  if ('unavailable' in lookup) throw unavailable(lookup.unavailable);
  const { head } = lookup;
  if (head.classes !== classes || head.channels !== features.channels || head.grid !== features.grid) {
    throw unavailable(
      `its fc layer is ${head.classes}×${head.channels} over a ${head.grid}×${head.grid} map but the model has ${classes} classes and ${features.channels} feature channels on ${features.grid}×${features.grid}`,
    );
  }
  return head;
}
