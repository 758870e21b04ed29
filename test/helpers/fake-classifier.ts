import { createHash } from 'node:crypto';
import {
  CLASSIFIER_OPTIONS,
  type Classifier,
  type ClassifierLimits,
  type ClassifierObserver,
  type ClassifyOptions,
  type ClassifyResult,
  type InferResult,
} from '../../src/classifier/index.js';
import { ResnetServeError } from '../../src/errors.js';
import { IMAGENET_RECIPE } from '../../src/image/recipe.js';
import { TOP_K } from '../../src/labels/postprocess.js';
import { type ModelContract, modelId } from '../../src/model/contract.js';

export interface FakeClassifierOptions {
  /** Requests allowed to wait at once before QUEUE_FULL. Default 64. */
  maxQueue?: number;
  /** How long each classification takes. Default 0. */
  delayMs?: number;
  /** When set, classify() waits for this promise (lets a test hold a request in flight). */
  gate?: Promise<void>;
  observer?: ClassifierObserver;
  /** The pixel limit it reports (the app checks it against its own). Default: the classifier's default. */
  maxPixels?: number;
  /** The request timeout it reports (shutdown waits for it). Default: the classifier's default. */
  requestTimeoutMs?: number;
  /** What it says it runs. Default {@link fakeContract}(). */
  model?: ModelContract;
}

/** The hash a fake model is named by: any 64 hex digits do, these are sha256('fake'). */
const FAKE_SHA256 = createHash('sha256').update('fake').digest('hex');

/**
 * A ResNet-18-shaped contract (1000 ImageNet classes, 224 px, a 512 × 7 × 7 `features`) for a model that does not
 * exist; `overrides` change what a test is about.
 */
export function fakeContract(overrides: Partial<ModelContract> = {}): ModelContract {
  const name = overrides.name ?? 'fake';
  const version = overrides.version ?? FAKE_SHA256.slice(0, 8);
  return Object.freeze({
    id: modelId(name, version),
    name,
    version,
    architecture: undefined,
    source: { file: 'fake.onnx', sha256: FAKE_SHA256 },
    precision: 'fp32',
    recipe: IMAGENET_RECIPE,
    classes: 1000,
    labels: 'imagenet-1k',
    input: 'input',
    output: 'logits',
    features: { channels: 512, grid: 7 },
    unexplainable: undefined,
    ...overrides,
  } satisfies ModelContract);
}

const PNG = [0x89, 0x50, 0x4e, 0x47];
const JPEG = [0xff, 0xd8, 0xff];

/**
 * Stands in for the real classifier in HTTP tests that are about the server, not the model: sniffs
 * PNG/JPEG magic bytes like image/ does, throws the same codes, and answers a deterministic top-k
 * derived from the bytes' hash so tests can tell answers apart.
 */
export class FakeClassifier implements Classifier {
  readonly model: ModelContract;
  readonly limits: ClassifierLimits;
  closed = false;
  closeCalls = 0;
  #depth = 0;
  readonly #options: FakeClassifierOptions;

  constructor(options: FakeClassifierOptions = {}) {
    this.#options = options;
    this.model = options.model ?? fakeContract();
    this.limits = {
      maxPixels: options.maxPixels ?? CLASSIFIER_OPTIONS.maxPixels.default,
      maxTopK: TOP_K.max,
      requestTimeoutMs: options.requestTimeoutMs ?? CLASSIFIER_OPTIONS.requestTimeoutMs.default,
    };
  }

  queueDepth(): number {
    return this.#depth;
  }

  async classify(bytes: Uint8Array, options: ClassifyOptions = {}): Promise<ClassifyResult> {
    this.#check(bytes);
    return this.#run(() => {
      const digest = createHash('sha256').update(bytes).digest();
      const topK = options.topK ?? 3;
      const predictions = Array.from({ length: topK }, (_, i) => ({
        index: (digest[i % digest.length]! * 4 + i) % this.model.classes,
        label: `class ${i}`,
        label_zh: `类别 ${i}`,
        probability: 1 / (i + 2),
      }));
      return { predictions, timings_ms: { decode: 1, inference: 2, total: 3 } };
    });
  }

  /** Logits derived from the input's hash: different inputs rank classes differently, the same input alike. */
  async infer(input: Uint8Array | Float32Array): Promise<InferResult> {
    const bytes = input instanceof Float32Array ? new Uint8Array(input.buffer, input.byteOffset, input.byteLength) : input;
    if (!(input instanceof Float32Array)) this.#check(bytes);
    return this.#run(() => {
      const digest = createHash('sha256').update(bytes).digest();
      const logits = Float32Array.from({ length: this.model.classes }, (_, i) => ((digest[i % digest.length]! ^ i) % 97) / 10);
      return { logits, timings_ms: { decode: 1, inference: 2, total: 3 } };
    });
  }

  #check(bytes: Uint8Array): void {
    if (this.closed) throw new ResnetServeError('NOT_READY', 'closed');
    if (bytes.length === 0) throw new ResnetServeError('FILE_EMPTY', { subject: 'The file' });
    const starts = (magic: number[]): boolean => magic.every((b, i) => bytes[i] === b);
    if (!starts(PNG) && !starts(JPEG)) throw new ResnetServeError('UNSUPPORTED_MEDIA_TYPE', 'Not an image.');
    if (bytes.length < 16) throw new ResnetServeError('IMAGE_CORRUPT', { format: 'png', part: 'data' });
  }

  async #run<T>(answer: () => T): Promise<T> {
    if (this.closed) throw new ResnetServeError('NOT_READY', 'closed');
    if (this.#depth >= (this.#options.maxQueue ?? 64)) throw new ResnetServeError('QUEUE_FULL', { maxQueue: this.#options.maxQueue ?? 64 });
    this.#depth += 1;
    this.#options.observer?.onQueueDepth?.(this.#depth);
    try {
      if (this.#options.gate !== undefined) await this.#options.gate;
      if ((this.#options.delayMs ?? 0) > 0) await new Promise((r) => setTimeout(r, this.#options.delayMs));
      this.#options.observer?.onBatch?.(1, 1);
      return answer();
    } finally {
      this.#depth -= 1;
      this.#options.observer?.onQueueDepth?.(this.#depth);
    }
  }

  async close(): Promise<void> {
    this.closeCalls += 1;
    this.closed = true;
  }
}

/** A loader the test resolves by hand, to observe /readyz before and after the model is ready. */
export function manualLoader(classifier: Classifier): {
  load: () => Promise<Classifier>;
  resolve: () => void;
  reject: (error: Error) => void;
} {
  let resolve!: () => void;
  let reject!: (error: Error) => void;
  const ready = new Promise<Classifier>((res, rej) => {
    resolve = () => res(classifier);
    reject = rej;
  });
  return { load: () => ready, resolve, reject };
}
