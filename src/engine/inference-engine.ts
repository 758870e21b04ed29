import { Worker } from 'node:worker_threads';
import type ort from 'onnxruntime-node';
import { onnxRuntimeFailed, ResnetServeError } from '../errors.js';
import { inputElements } from '../image/recipe.js';
import type { ModelContract } from '../model/contract.js';
import { FEATURES_NAME } from '../model/features.js';
import { compileForThisCpu } from './compile.js';
import { onnxRuntimePath, SESSION_THREAD_SOURCE } from './inference-thread.js';
import { disableOnnxRuntimeTelemetry } from './ort-environment.js';

export interface EngineOptions {
  /** ONNX Runtime intra-op threads (the classifier's default is THREADS.default, the machine's cores). */
  threads: number;
  /**
   * Where to keep the model compiled for this CPU (see compile.ts). When set and `model` is a path, the
   * session loads that compiled form, its weights mapped from disk; otherwise the `.onnx` is optimised at
   * every load.
   */
  cacheDir?: string;
  /** What the model is (model/contract.ts): the session is checked against it and fed tensors of its input size. */
  contract: ModelContract;
}

type Metadata = readonly ort.InferenceSession.ValueMetadata[];

type ThreadMessage =
  | { type: 'ready'; inputs: Metadata; outputs: Metadata }
  | { type: 'failed'; error: unknown }
  | { type: 'result'; id: number; logits: Float32Array; features?: Float32Array }
  | { type: 'error'; id: number; error: unknown }
  | { type: 'released' };

/** What one run returns: the logits and, when asked for, the features. */
export interface EngineOutputs {
  /** `count × classes` floats, row-major. */
  logits: Float32Array;
  /** `count × channels × grid × grid` floats, only from {@link InferenceEngine.infer} with `withFeatures`. */
  features?: Float32Array;
}

/**
 * The one ONNX Runtime session of a process: `infer(batch) → logits`, run on a thread of its own
 * (inference-thread.ts) so the event loop stays free. Only this folder imports onnxruntime-node. The session
 * is created once, checked against the model contract (its input float32 [N,3,S,S] with S the recipe's crop size,
 * its logits float32 [N,classes], and its `features` [N,K,g,g] when the contract has them) and warmed up before it
 * is handed out.
 */
export class InferenceEngine {
  readonly #thread: Worker;
  readonly #pending = new Map<number, { resolve(outputs: EngineOutputs): void; reject(error: unknown): void }>();
  #nextId = 0;
  #stopped: ResnetServeError | undefined;
  /** The model this session runs, as checked against it. */
  readonly contract: ModelContract;

  private constructor(thread: Worker, contract: ModelContract) {
    this.#thread = thread;
    this.contract = contract;
    thread.on('message', (message: ThreadMessage) => {
      if (message.type !== 'result' && message.type !== 'error') return;
      const call = this.#pending.get(message.id);
      this.#pending.delete(message.id);
      if (message.type === 'result') call?.resolve({ logits: message.logits, features: message.features });
      else call?.reject(onnxRuntimeFailed('run', message.error));
    });
    const stop = (cause: unknown): void => {
      this.#stopped ??= new ResnetServeError('INTERNAL', 'The inference thread stopped.', { cause });
      for (const call of this.#pending.values()) call.reject(this.#stopped);
      this.#pending.clear();
    };
    thread.on('error', stop);
    thread.on('exit', stop);
  }

  /**
   * Creates, validates and warms up a session.
   * @param model path of an `.onnx` file, or its bytes.
   * @throws ResnetServeError MODEL_INVALID when ORT cannot load the model or its inputs/outputs differ from the contract.
   */
  static async create(model: string | Uint8Array, options: EngineOptions): Promise<InferenceEngine> {
    const { cacheDir, contract } = options;
    disableOnnxRuntimeTelemetry();
    const compiled = typeof model === 'string' && cacheDir !== undefined;
    const source = compiled ? await compileForThisCpu(model, cacheDir) : model;
    const sessionOptions = engineSessionOptions(options.threads, compiled);
    const thread = new Worker(SESSION_THREAD_SOURCE, {
      eval: true,
      workerData: { ortPath: onnxRuntimePath(), model: source, sessionOptions },
    });
    const ready = await new Promise<ThreadMessage>((resolve, reject) => {
      thread.once('message', resolve);
      thread.once('error', reject);
      thread.once('exit', (code) => reject(new Error(`the session thread exited with code ${code}`)));
    }).catch((cause: unknown) => ({ type: 'failed', error: cause }) as const);
    try {
      if (ready.type !== 'ready') {
        throw onnxRuntimeFailed('load', ready.type === 'failed' ? ready.error : ready.type);
      }
      checkSession(ready.inputs, ready.outputs, contract);
      const engine = new InferenceEngine(thread, contract);
      await engine.infer(new Float32Array(inputElements(contract.recipe)), 1);
      return engine;
    } catch (error) {
      await thread.terminate();
      throw error;
    }
  }

  /**
   * Runs `count` images laid out back to back in `batch` (CHW, normalised). A batch on a SharedArrayBuffer
   * reaches the session thread without a copy. Only the logits are fetched unless `withFeatures` asks for
   * the features too (ORT's `run(feeds, fetches)`), so plain requests do not copy them.
   * @throws ResnetServeError INFERENCE_FAILED when ORT fails, INTERNAL when the session thread has stopped or
   *   `withFeatures` is asked of a model without `features`.
   */
  infer(batch: Float32Array, count: number, withFeatures = false): Promise<EngineOutputs> {
    if (this.#stopped !== undefined) return Promise.reject(this.#stopped);
    const { contract } = this;
    if (withFeatures && contract.features === undefined) {
      return Promise.reject(new ResnetServeError('INTERNAL', `The model has no ${FEATURES_NAME} output to fetch.`));
    }
    const size = contract.recipe.cropSize;
    const id = this.#nextId++;
    return new Promise((resolve, reject) => {
      this.#pending.set(id, { resolve, reject });
      this.#thread.postMessage({
        type: 'run',
        id,
        batch,
        elements: count * inputElements(contract.recipe),
        dims: [count, 3, size, size],
        inputName: contract.input,
        outputNames: withFeatures ? [contract.output, FEATURES_NAME] : [contract.output],
      });
    });
  }

  /** Releases the session and ends its thread. */
  async release(): Promise<void> {
    if (this.#stopped === undefined) {
      const released = new Promise<void>((resolve) => {
        this.#thread.on('message', (message: ThreadMessage) => {
          if (message.type === 'released') resolve();
        });
      });
      this.#thread.postMessage({ type: 'release' });
      await released;
    }
    await this.#thread.terminate();
  }
}

/**
 * The ONNX Runtime session options of the engine; exported so the benchmark's memory floor (bench/floor.mjs)
 * loads the model exactly as the server does.
 * @param compiled - the model is the already optimised form from compile.ts: no graph passes at load.
 */
export function engineSessionOptions(threads: number, compiled: boolean): ort.InferenceSession.SessionOptions {
  return {
    executionProviders: ['cpu'],
    graphOptimizationLevel: compiled ? 'disabled' : 'all',
    intraOpNumThreads: threads,
    // One model, one request stream: inter-op parallelism only adds idle threads on a 2-core box.
    interOpNumThreads: 1,
    executionMode: 'sequential',
  };
}

/**
 * Checks what ONNX Runtime made of the model against its contract (read from the same file by model/contract.ts):
 * the contract's input [N,3,S,S] (S fixed or symbolic), its logits [N,classes] and, when it has them, its features.
 * @throws ResnetServeError MODEL_INVALID naming the first difference.
 */
function checkSession(inputs: Metadata, outputs: Metadata, contract: ModelContract): void {
  const size = contract.recipe.cropSize;
  function fail(why: string): never {
    throw new ResnetServeError(
      'MODEL_INVALID',
      `The ONNX model does not fit resnet-serve: ${why}. Expected one input float32 [N,3,${size},${size}] and one output float32 [N,${contract.classes}] (plus, optionally, ${FEATURES_NAME}).`,
    );
  }
  const tensor = (list: Metadata, name: string) => {
    const found = list.find((value) => value.name === name);
    return found?.isTensor === true && found.type === 'float32' ? found : undefined;
  };
  const input = tensor(inputs, contract.input);
  const output = tensor(outputs, contract.output);
  if (inputs.length !== 1 || input === undefined)
    fail(`its inputs are ${inputs.map((i) => i.name).join(', ')}, not float32 ${contract.input}`);
  if (output === undefined) fail(`it has no float32 output ${contract.output}`);
  const [, channels, height, width] = input.shape;
  const side = (dim: number | string | undefined): boolean => dim === size || typeof dim === 'string';
  if (input.shape.length !== 4 || channels !== 3 || !side(height) || !side(width)) {
    fail(`input ${input.name} has shape [${input.shape.join(',')}]`);
  }
  if (output.shape.length !== 2 || output.shape[1] !== contract.classes)
    fail(`output ${output.name} has shape [${output.shape.join(',')}]`);
  const { features } = contract;
  if (features === undefined) return;
  const found = tensor(outputs, FEATURES_NAME);
  const grid = features.grid;
  if (found?.shape.length !== 4 || found.shape[1] !== features.channels || found.shape[2] !== grid || found.shape[3] !== grid) {
    fail(`its ${FEATURES_NAME} output is not float32 [N,${features.channels},${grid},${grid}]`);
  }
}
