import { readFile } from 'node:fs/promises';
import ort from 'onnxruntime-node';
import { IMAGENET_RECIPE, INPUT_ELEMENTS } from '../config.js';
import { ResnetServeError } from '../errors.js';
import { compileForThisCpu } from './compile.js';

export interface EngineOptions {
  /** ONNX Runtime intra-op threads. Default: DEFAULTS.intraOpThreads (the machine's cores). */
  threads: number;
  /**
   * Where to keep the ORT-format model compiled for this CPU (see compile.ts). When set and `model` is a
   * path, the session loads that file with its weights used in place; otherwise the `.onnx` is optimised at
   * every load.
   */
  cacheDir?: string;
}

/**
 * The one ONNX Runtime session of a process: `infer(batch) → logits`. Only this folder imports
 * onnxruntime-node. The session is created once, checked against the model contract
 * (`input` float32 [N,3,224,224] → `logits` float32 [N,C]) and warmed up before it is handed out.
 */
export class InferenceEngine {
  readonly #session: ort.InferenceSession;
  /** The ORT-format bytes the session's initializers point into: they must outlive the session. */
  readonly #modelBytes: Uint8Array | undefined;
  readonly inputName: string;
  readonly outputName: string;
  /** Classes per image: the second dimension of the output. */
  readonly classes: number;

  private constructor(session: ort.InferenceSession, modelBytes: Uint8Array | undefined, inputName: string, outputName: string, classes: number) {
    this.#session = session;
    this.#modelBytes = modelBytes;
    this.inputName = inputName;
    this.outputName = outputName;
    this.classes = classes;
  }

  /**
   * Creates, validates and warms up a session.
   * @param model path of an `.onnx` file, or its bytes.
   * @throws ResnetServeError MODEL_INVALID when ORT cannot load the model or its inputs/outputs differ from the contract.
   */
  static async create(model: string | Uint8Array, options: EngineOptions): Promise<InferenceEngine> {
    const sessionOptions: ort.InferenceSession.SessionOptions = {
      executionProviders: ['cpu'],
      graphOptimizationLevel: 'all',
      intraOpNumThreads: options.threads,
      // One model, one request stream: inter-op parallelism only adds idle threads on a 2-core box.
      interOpNumThreads: 1,
      executionMode: 'sequential',
    };
    let bytes = typeof model === 'string' ? undefined : model;
    if (typeof model === 'string' && options.cacheDir !== undefined) {
      bytes = await readFile(await compileForThisCpu(model, options.cacheDir));
      sessionOptions.graphOptimizationLevel = 'disabled';
      sessionOptions.extra = { session: { use_ort_model_bytes_directly: '1', use_ort_model_bytes_for_initializers: '1' } };
    }
    const source = bytes ?? model;
    let session: ort.InferenceSession;
    try {
      // Two calls, not one: ORT's overloads take a path or bytes, not their union.
      session = typeof source === 'string'
        ? await ort.InferenceSession.create(source, sessionOptions)
        : await ort.InferenceSession.create(source, sessionOptions);
    } catch (cause) {
      throw new ResnetServeError('MODEL_INVALID', `ONNX Runtime could not load the model: ${messageOf(cause)}`, { cause });
    }
    try {
      const { inputName, outputName, classes } = checkContract(session);
      const engine = new InferenceEngine(session, bytes, inputName, outputName, classes);
      await engine.infer(new Float32Array(INPUT_ELEMENTS), 1);
      return engine;
    } catch (error) {
      await session.release();
      throw error;
    }
  }

  /**
   * Runs `count` images laid out back to back in `batch` (CHW, normalised).
   * @returns logits, `count × classes` floats, row-major.
   */
  async infer(batch: Float32Array, count: number): Promise<Float32Array> {
    const size = IMAGENET_RECIPE.cropSize;
    const input = new ort.Tensor('float32', batch.subarray(0, count * INPUT_ELEMENTS), [count, 3, size, size]);
    const outputs = await this.#session.run({ [this.inputName]: input });
    const logits = outputs[this.outputName];
    if (logits === undefined || !(logits.data instanceof Float32Array)) {
      throw new ResnetServeError('MODEL_INVALID', `The model returned no float32 output named ${this.outputName}.`);
    }
    return logits.data;
  }

  async release(): Promise<void> {
    await this.#session.release();
  }
}

function checkContract(session: ort.InferenceSession): { inputName: string; outputName: string; classes: number } {
  const size = IMAGENET_RECIPE.cropSize;
  const [input] = session.inputMetadata;
  const [output] = session.outputMetadata;
  const fail = (why: string): never => {
    throw new ResnetServeError('MODEL_INVALID', `The ONNX model does not fit resnet-serve: ${why}. Expected one input float32 [N,3,${size},${size}] and one output float32 [N,classes].`);
  };
  if (session.inputMetadata.length !== 1 || input === undefined || !input.isTensor) return fail(`it has ${session.inputMetadata.length} inputs`);
  if (session.outputMetadata.length !== 1 || output === undefined || !output.isTensor) return fail(`it has ${session.outputMetadata.length} outputs`);
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
  return { inputName: input.name, outputName: output.name, classes };
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
