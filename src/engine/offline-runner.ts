import ort from 'onnxruntime-node';
import { onnxRuntimeFailed, ResnetServeError } from '../errors.js';
import { disableOnnxRuntimeTelemetry } from './ort-environment.js';
import { THREADS } from './threads.js';

/**
 * Runs a model over many images, several outputs at a time, in the calling thread: for offline tools. Calibration
 * (every activation) and `--validate` need this; the serving engine (inference-engine.ts) deliberately exposes only
 * what serving needs, one input → the logits and, when asked, layer4's `features`, so offline tools get this runner
 * instead of widening the serving contract; it lives here because only engine/ imports onnxruntime-node.
 */
export interface OfflineRunner {
  /**
   * Runs `images` (each C×H×W floats) in batches and hands every batch's outputs to `onBatch`.
   * @param outputs - names to fetch; default: the model's own outputs.
   */
  run(
    images: readonly Float32Array[],
    onBatch: (outputs: Record<string, Float32Array>, count: number) => void,
    outputs?: readonly string[],
  ): Promise<void>;
}

export interface RunnerOptions {
  /** ORT intra-op threads; default THREADS.default (the machine's cores). */
  threads?: number;
  /** Images per ORT run; default 4 (calibration fetches every activation, so batches stay small). */
  batchSize?: number;
}

/**
 * Opens an ORT CPU session on `model`, calls `use`, and always releases the session.
 * @param inputShape - one image's dims, e.g. [3, 224, 224].
 * @throws ResnetServeError MODEL_INVALID when ORT cannot load the model, INFERENCE_FAILED when a run fails.
 */
export async function withRunner<T>(
  model: Uint8Array,
  inputShape: readonly number[],
  options: RunnerOptions,
  use: (runner: OfflineRunner) => Promise<T>,
): Promise<T> {
  let session: ort.InferenceSession;
  disableOnnxRuntimeTelemetry();
  try {
    session = await ort.InferenceSession.create(model, {
      executionProviders: ['cpu'],
      graphOptimizationLevel: 'all',
      intraOpNumThreads: options.threads ?? THREADS.default,
      interOpNumThreads: 1,
    });
  } catch (cause) {
    throw onnxRuntimeFailed('load', cause);
  }
  const batchSize = options.batchSize ?? 4;
  const inputName = session.inputNames[0] ?? '';
  const elements = inputShape.reduce((a, b) => a * b, 1);
  const runner: OfflineRunner = {
    async run(images, onBatch, outputs = session.outputNames) {
      for (let start = 0; start < images.length; start += batchSize) {
        const chunk = images.slice(start, start + batchSize);
        const batch = new Float32Array(chunk.length * elements);
        for (const [i, image] of chunk.entries()) batch.set(image, i * elements);
        let results: ort.InferenceSession.ReturnType;
        try {
          results = await session.run({ [inputName]: new ort.Tensor('float32', batch, [chunk.length, ...inputShape]) }, [...outputs]);
        } catch (cause) {
          throw onnxRuntimeFailed('run', cause);
        }
        const floats: Record<string, Float32Array> = {};
        for (const name of outputs) {
          const data = results[name]?.data;
          if (!(data instanceof Float32Array))
            throw new ResnetServeError('MODEL_INVALID', `The model returned no float32 output named ${name}.`);
          floats[name] = data;
        }
        onBatch(floats, chunk.length);
      }
    },
  };
  try {
    return await use(runner);
  } finally {
    await session.release();
  }
}
