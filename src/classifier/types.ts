import type { CropBox } from '../image/recipe-geometry.js';
import type { Prediction } from '../labels/types.js';
import type { ModelContract } from '../model/contract.js';

export interface ClassifyOptions {
  /** How many classes to return, 1..20 (`TOP_K`, and at most the model's classes). Default 3. */
  topK?: number;
  /**
   * Also say where the model looked: a class activation map per returned class (src/explain/cam.ts). Costs one
   * more output of the batch's run and channels × cells multiply-adds per class (512 × 49 for ResNet-18). Default false.
   */
  explain?: boolean;
}

/** Where the model looked, for `classify(bytes, { explain: true })`. */
export interface Explanation {
  /** The image's size after EXIF orientation (as it is displayed), in pixels: the space `crop` is in. */
  image: { width: number; height: number };
  /** The part of the image the model saw (the recipe's Resize + CenterCrop, mapped back), which the maps cover. */
  crop: CropBox;
  /** Side of each map: the model's `features` grid (7 for ResNet-18 at 224 px). */
  grid: number;
  /**
   * One map per prediction, in the same order: grid × grid values row-major (first row at the top of `crop`), each
   * the class's evidence in that cell, ReLU'd and divided by the map's maximum (0..1; all 0 when nothing is positive).
   */
  maps: Float32Array[];
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
  /** Only with `explain: true`. */
  explanation?: Explanation;
}

/** One image's raw model output, for shells that answer with tensors (the Open Inference Protocol). */
export interface InferResult {
  /** The model's logits for this image, one per class. */
  logits: Float32Array;
  timings_ms: Timings;
  /**
   * Only with `explain: true`: the map of the top class (grid × grid, row-major, normalised as in
   * `Explanation.maps`), over the centre crop the model saw (for a tensor, the whole input).
   */
  cam?: Float32Array;
}

export interface InferOptions {
  /** Also return the top class's activation map (`cam`). Default false. */
  explain?: boolean;
}

/** Hooks for metrics and tests; every one is optional. */
export interface ClassifierObserver {
  onBatch?(size: number, inferenceMs: number): void;
  onQueueDepth?(depth: number): void;
  /**
   * A decode starts: the image's pixels, how many images are decoding now and how many of them are over 4 MP,
   * this one included.
   */
  onDecodeStart?(pixels: number, decodingNow: number, largeNow: number): void;
}

/** The limits a classifier enforces, for shells that publish or mirror them (the server's /config and shutdown). */
export interface ClassifierLimits {
  /** Images of more pixels are IMAGE_TOO_LARGE. */
  readonly maxPixels: number;
  /** The largest `topK`: 20, or the model's classes if fewer. */
  readonly maxTopK: number;
  /** Longest wait from `classify()` until the request's batch starts, before TIMEOUT, in ms. */
  readonly requestTimeoutMs: number;
}

/** What `server/`, `cli/` and library users see: one image in, top-k classes out. */
export interface Classifier {
  /** The model answering: its id (`resnet50-11ad3fa6`), precision, recipe, classes and outputs. */
  readonly model: ModelContract;
  readonly limits: ClassifierLimits;
  /**
   * @throws ResnetServeError FILE_EMPTY, UNSUPPORTED_MEDIA_TYPE, IMAGE_CORRUPT, IMAGE_TOO_LARGE,
   *   QUEUE_FULL, TIMEOUT, NOT_READY, INVALID_ARGUMENT, INFERENCE_FAILED; EXPLAIN_UNAVAILABLE for `explain`
   *   with a model that cannot explain.
   */
  classify(bytes: Uint8Array, options?: ClassifyOptions): Promise<ClassifyResult>;
  /**
   * The logits of one encoded image (checked and decoded as by `classify`), or of one tensor already
   * preprocessed with the model's recipe (3 × crop × crop floats, CHW), through the same admission and batching
   * queue. `classify` is `infer` followed by `postprocess`.
   *
   * @throws ResnetServeError as `classify`; INVALID_ARGUMENT for a tensor of another length.
   */
  infer(input: Uint8Array | Float32Array, options?: InferOptions): Promise<InferResult>;
  /** Requests waiting for or in inference right now. */
  queueDepth(): number;
  /** Finishes queued work, then releases the session. Later calls to classify fail with NOT_READY. */
  close(): Promise<void>;
}
