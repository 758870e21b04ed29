import type { Precision, Prediction } from './types.js';

export interface ClassifyOptions {
  /** How many classes to return, 1..20. Default 3. */
  topK?: number;
}

export interface Timings {
  /** Decoding, resizing and normalising this image. */
  decode: number;
  /** The ONNX Runtime run of the batch this image rode in. */
  inference: number;
  /** From the call to the answer, queueing included. */
  total: number;
}

export interface ClassifyResult {
  predictions: Prediction[];
  timings_ms: Timings;
}

/** Hooks the server uses for metrics; every one is optional. */
export interface ClassifierObserver {
  onBatch?(size: number, inferenceMs: number): void;
  onQueueDepth?(depth: number): void;
}

/** What `server/`, `cli.ts` and library users see: one image in, top-k classes out. */
export interface Classifier {
  readonly modelName: string;
  readonly precision: Precision;
  /**
   * @throws ResnetServeError FILE_EMPTY, UNSUPPORTED_MEDIA_TYPE, IMAGE_CORRUPT, IMAGE_TOO_LARGE,
   *   QUEUE_FULL, TIMEOUT, NOT_READY, INVALID_ARGUMENT.
   */
  classify(bytes: Uint8Array, options?: ClassifyOptions): Promise<ClassifyResult>;
  /** Requests waiting for or in inference right now. */
  queueDepth(): number;
  /** Finishes queued work, then releases the session. Later calls to classify fail with NOT_READY. */
  close(): Promise<void>;
}
