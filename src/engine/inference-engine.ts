import { Worker } from 'node:worker_threads';
import type ort from 'onnxruntime-node';
import { onnxRuntimeFailed, ResnetServeError } from '../errors.js';
import { IMAGENET_RECIPE, INPUT_ELEMENTS } from '../image/recipe.js';
import { FEATURE_GRID, FEATURES_NAME } from '../model/features.js';
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
}

type Metadata = readonly ort.InferenceSession.ValueMetadata[];

type ThreadMessage =
  | { type: 'ready'; inputs: Metadata; outputs: Metadata }
  | { type: 'failed'; error: unknown }
  | { type: 'result'; id: number; logits: Float32Array; features?: Float32Array }
  | { type: 'error'; id: number; error: unknown }
  | { type: 'released' };

/** What one run returns: the logits and, when asked for, layer4's features. */
export interface EngineOutputs {
  /** `count × classes` floats, row-major. */
  logits: Float32Array;
  /** `count × featureChannels × 7 × 7` floats, only from {@link InferenceEngine.infer} with `withFeatures`. */
  features?: Float32Array;
}

/**
 * The one ONNX Runtime session of a process: `infer(batch) → logits`, run on a thread of its own
 * (inference-thread.ts) so the event loop stays free. Only this folder imports onnxruntime-node. The session
 * is created once, checked against the model contract (`input` float32 [N,3,224,224] → `logits` float32
 * [N,C], optionally `features` float32 [N,K,7,7]) and warmed up before it is handed out.
 */
export class InferenceEngine {
  readonly #thread: Worker;
  readonly #pending = new Map<number, { resolve(outputs: EngineOutputs): void; reject(error: unknown): void }>();
  #nextId = 0;
  #stopped: ResnetServeError | undefined;
  readonly inputName: string;
  readonly outputName: string;
  /** Classes per image: the second dimension of the output. */
  readonly classes: number;
  /** Channels of the `features` output, or undefined when the model has none (it then cannot explain). */
  readonly featureChannels: number | undefined;

  private constructor(thread: Worker, contract: Contract) {
    this.#thread = thread;
    this.inputName = contract.inputName;
    this.outputName = contract.outputName;
    this.classes = contract.classes;
    this.featureChannels = contract.featureChannels;
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
    const { cacheDir } = options;
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
      const engine = new InferenceEngine(thread, checkContract(ready.inputs, ready.outputs));
      await engine.infer(new Float32Array(INPUT_ELEMENTS), 1);
      return engine;
    } catch (error) {
      await thread.terminate();
      throw error;
    }
  }

  /**
   * Runs `count` images laid out back to back in `batch` (CHW, normalised). A batch on a SharedArrayBuffer
   * reaches the session thread without a copy. Only the logits are fetched unless `withFeatures` asks for
   * layer4's output too (ORT's `run(feeds, fetches)`), so plain requests do not copy the features.
   * @throws ResnetServeError INFERENCE_FAILED when ORT fails, INTERNAL when the session thread has stopped or
   *   `withFeatures` is asked of a model without `features`.
   */
  infer(batch: Float32Array, count: number, withFeatures = false): Promise<EngineOutputs> {
    if (this.#stopped !== undefined) return Promise.reject(this.#stopped);
    if (withFeatures && this.featureChannels === undefined) {
      return Promise.reject(new ResnetServeError('INTERNAL', `The model has no ${FEATURES_NAME} output to fetch.`));
    }
    const size = IMAGENET_RECIPE.cropSize;
    const id = this.#nextId++;
    return new Promise((resolve, reject) => {
      this.#pending.set(id, { resolve, reject });
      this.#thread.postMessage({
        type: 'run',
        id,
        batch,
        elements: count * INPUT_ELEMENTS,
        dims: [count, 3, size, size],
        inputName: this.inputName,
        outputNames: withFeatures ? [this.outputName, FEATURES_NAME] : [this.outputName],
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

interface Contract {
  inputName: string;
  outputName: string;
  classes: number;
  featureChannels: number | undefined;
}

function checkContract(inputs: Metadata, outputs: Metadata): Contract {
  const size = IMAGENET_RECIPE.cropSize;
  const [input] = inputs;
  // `features` (model/features.ts) is optional and only fetched for explanations.
  const others = outputs.filter((o) => o.name !== FEATURES_NAME);
  const [output] = others;
  const fail = (why: string): never => {
    throw new ResnetServeError(
      'MODEL_INVALID',
      `The ONNX model does not fit resnet-serve: ${why}. Expected one input float32 [N,3,${size},${size}] and one output float32 [N,classes] (plus, optionally, ${FEATURES_NAME}).`,
    );
  };
  if (inputs.length !== 1 || input === undefined || !input.isTensor) return fail(`it has ${inputs.length} inputs`);
  if (others.length !== 1 || output === undefined || !output.isTensor) return fail(`it has ${outputs.length} outputs`);
  if (input.type !== 'float32') return fail(`input ${input.name} is ${input.type}`);
  if (output.type !== 'float32') return fail(`output ${output.name} is ${output.type}`);
  const [, channels, height, width] = input.shape;
  if (input.shape.length !== 4 || channels !== 3 || height !== size || width !== size) {
    return fail(`input ${input.name} has shape [${input.shape.join(',')}]`);
  }
  const classes = output.shape[1];
  if (output.shape.length !== 2 || typeof classes !== 'number' || classes < 1) {
    return fail(`output ${output.name} has shape [${output.shape.join(',')}]`);
  }
  return {
    inputName: input.name,
    outputName: output.name,
    classes,
    featureChannels: featureChannels(outputs.find((o) => o.name === FEATURES_NAME)),
  };
}

/** Channels of a `features` output of shape [N, K, 7, 7]; undefined when there is none or it has another shape. */
function featureChannels(output: Metadata[number] | undefined): number | undefined {
  if (output === undefined || !output.isTensor || output.type !== 'float32') return undefined;
  const [, channels, height, width] = output.shape;
  const fits =
    output.shape.length === 4 && typeof channels === 'number' && channels > 0 && height === FEATURE_GRID && width === FEATURE_GRID;
  return fits ? channels : undefined;
}
