import { THREADS } from '../engine/threads.js';
import { cacheDir } from '../files/cache-dir.js';
import { type IntegerOption, integerOption } from '../guards.js';
import { MAX_PIXELS } from '../image/limits.js';
import type { ModelContract } from '../model/contract.js';
import type { ClassifierObserver } from './types.js';

/**
 * How a classifier is made. Every option but `model` is optional; each one's default and range is written here,
 * and `createClassifier` checks them once, through {@link resolveClassifierOptions}.
 */
export interface ClassifierOptions {
  /**
   * The ONNX model: a path or its bytes (`resnet-serve convert` or `resolveModel()` makes one). A path is
   * lighter: it is compiled once for this CPU and its weights are mapped from disk, while bytes are copied to the
   * session thread and optimised at every load.
   */
  model: string | Uint8Array;
  /**
   * What the model is: its id, precision, recipe, classes and outputs (model/contract.ts). Default: read from the
   * model (`readModelContract`), which a caller that already read it passes here to save the reading.
   */
  contract?: ModelContract;
  /** ONNX Runtime intra-op threads, 1..256. Default: the machine's cores (`THREADS`). */
  threads?: number;
  /** Images per ONNX Runtime run, 1..64. Default 4. */
  maxBatch?: number;
  /** How long a lone request waits for company, in ms, 0..1000. Default 2. */
  batchWaitMs?: number;
  /** Requests admitted (decoding, queued or running) before QUEUE_FULL, at least 1. Default 64. */
  maxQueue?: number;
  /**
   * Longest time from the call to `classify()` until the request's batch starts, in ms, before TIMEOUT: decoding
   * and waiting in the queue both count. At least 1. Default 30 000.
   */
  requestTimeoutMs?: number;
  /** Where the model compiled for this CPU is cached when `model` is a path. Default `cacheDir()`. */
  cacheDir?: string;
  /** Images decoded at once, on sharp's threads, while a batch runs, at most one over 4 MP; 1..64. Default 2. */
  decodeConcurrency?: number;
  /**
   * Bytes of decoded pixels (width × height × channels, after shrink-on-load) in flight at once; an image that
   * alone needs more is IMAGE_OVER_BUDGET. At least 1 MiB. Default 128 MiB.
   */
  decodeBudgetBytes?: number;
  /** Largest image, in pixels, read from the header before decoding (IMAGE_TOO_LARGE); at least 1. Default 40 000 000 (`MAX_PIXELS`). */
  maxPixels?: number;
  observer?: ClassifierObserver;
}

/** The numeric options' defaults and ranges, as documented on {@link ClassifierOptions}; the CLI's flags read them too. */
export const CLASSIFIER_OPTIONS = Object.freeze({
  threads: THREADS,
  maxBatch: { default: 4, min: 1, max: 64 },
  batchWaitMs: { default: 2, min: 0, max: 1000 },
  maxQueue: { default: 64, min: 1 },
  requestTimeoutMs: { default: 30_000, min: 1 },
  decodeConcurrency: { default: 2, min: 1, max: 64 },
  decodeBudgetBytes: { default: 128 * 1024 * 1024, min: 1024 * 1024 },
  maxPixels: MAX_PIXELS,
}) satisfies Record<string, IntegerOption>;

type IntegerKey = keyof typeof CLASSIFIER_OPTIONS;

/** The options with every default filled in and every value checked. */
export type ResolvedClassifierOptions = Readonly<
  Record<IntegerKey, number> & Required<Pick<ClassifierOptions, 'model' | 'cacheDir' | 'observer'>> & Pick<ClassifierOptions, 'contract'>
>;

/**
 * Fills in the defaults and checks every option against its range.
 * @throws ResnetServeError INVALID_ARGUMENT naming the option, what it expects and what it received.
 */
export function resolveClassifierOptions(options: ClassifierOptions): ResolvedClassifierOptions {
  const integers = Object.fromEntries(
    (Object.entries(CLASSIFIER_OPTIONS) as [IntegerKey, IntegerOption][]).map(([key, spec]) => [
      key,
      integerOption(key, options[key], spec),
    ]),
  ) as Record<IntegerKey, number>;
  return Object.freeze({
    ...integers,
    model: options.model,
    contract: options.contract,
    cacheDir: options.cacheDir ?? cacheDir(),
    observer: options.observer ?? {},
  });
}
