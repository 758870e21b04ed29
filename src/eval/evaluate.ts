import { readFile } from 'node:fs/promises';
import { isResnetServeError, messageOf } from '../errors.js';
import { type AccuracySummary, AccuracyTally, type Rate, rate } from './accuracy.js';
import type { Dataset, DatasetLayout } from './dataset.js';

/** What `evaluate` needs of a classifier (the library's `Classifier` fits). */
export interface Scorer {
  classify(bytes: Uint8Array, options: { topK: number }): Promise<{ predictions: readonly { index: number }[] }>;
}

export interface EvalModel {
  /** Shown in the report, e.g. 'fp32' or a file name. */
  readonly name: string;
  readonly classifier: Scorer;
}

export interface EvalProgress {
  readonly done: number;
  readonly total: number;
  readonly elapsedMs: number;
}

export interface EvalOptions {
  /** Classes the models have; top-5 needs at least 5, fewer are ranked in full. */
  classes: number;
  /** Images in flight at once: enough to fill the classifier's batches, and the bound on memory. Default 16. */
  concurrency?: number;
  onProgress?(progress: EvalProgress): void;
}

/** A file that could not be scored, and why (its error code). */
export interface Unreadable {
  readonly path: string;
  readonly code: string;
  readonly message: string;
}

export interface Disagreement {
  readonly path: string;
  readonly label: number;
  /** Each model's top-1 class, in the order of `models`. */
  readonly predicted: readonly number[];
}

export interface EvalReport {
  readonly layout: DatasetLayout;
  /** Files listed; `evaluated` of them were scored and the rest are in `unreadable`. */
  readonly files: number;
  readonly evaluated: number;
  readonly unreadable: readonly Unreadable[];
  readonly models: readonly { readonly name: string; readonly accuracy: AccuracySummary }[];
  /** With two models: how often their top-1 answers agree, and where they do not. */
  readonly comparison?: { readonly agreement: Rate; readonly disagreements: readonly Disagreement[] };
  readonly elapsedMs: number;
}

/** What a bad file gives: the image cannot be had, and the rest of the set still can. */
const UNREADABLE_CODES = new Set(['FILE_EMPTY', 'UNSUPPORTED_MEDIA_TYPE', 'IMAGE_CORRUPT', 'IMAGE_TOO_LARGE']);
const DEFAULT_CONCURRENCY = 16;

/**
 * Scores every image of `dataset` with each model (top-1 and top-5 against its label), reading and decoding at most
 * `concurrency` files at a time, so memory stays bounded whatever the size of the set. Files that cannot be read or
 * decoded are counted and listed, not fatal. With two models, also their top-1 agreement and the disagreements.
 *
 * @throws whatever a classifier throws other than a bad-image error (a stopped engine, a full queue).
 */
export async function evaluate(dataset: Dataset, models: readonly EvalModel[], options: EvalOptions): Promise<EvalReport> {
  const topK = Math.min(5, options.classes);
  const concurrency = options.concurrency ?? DEFAULT_CONCURRENCY;
  const tallies = models.map(() => new AccuracyTally());
  const unreadable: Unreadable[] = [];
  const disagreements: Disagreement[] = [];
  let agreed = 0;
  let evaluated = 0;
  let done = 0;
  let next = 0;
  const started = performance.now();

  const score = async (path: string, label: number): Promise<void> => {
    let bytes: Uint8Array;
    try {
      bytes = await readFile(path);
    } catch (cause) {
      unreadable.push({ path, code: 'INPUT_NOT_FOUND', message: messageOf(cause) });
      return;
    }
    let ranked: number[][];
    try {
      ranked = await Promise.all(models.map(async (m) => (await m.classifier.classify(bytes, { topK })).predictions.map((p) => p.index)));
    } catch (error) {
      if (isResnetServeError(error) && UNREADABLE_CODES.has(error.code)) {
        unreadable.push({ path, code: error.code, message: error.message });
        return;
      }
      throw error;
    }
    evaluated++;
    ranked.forEach((r, i) => {
      tallies[i]?.add(label, r);
    });
    if (models.length === 2) {
      const [a, b] = ranked.map((r) => r[0] ?? -1);
      if (a === b) agreed++;
      else disagreements.push({ path, label, predicted: [a ?? -1, b ?? -1] });
    }
  };

  const worker = async (): Promise<void> => {
    while (next < dataset.images.length) {
      const image = dataset.images[next++];
      if (image === undefined) break;
      await score(image.path, image.label);
      done++;
      options.onProgress?.({ done, total: dataset.images.length, elapsedMs: performance.now() - started });
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(concurrency, dataset.images.length)) }, worker));

  // Workers finish out of order; report in the dataset's order.
  const order = new Map(dataset.images.map((image, i) => [image.path, i]));
  const byOrder = (a: { path: string }, b: { path: string }): number => (order.get(a.path) ?? 0) - (order.get(b.path) ?? 0);
  return {
    layout: dataset.layout,
    files: dataset.images.length,
    evaluated,
    unreadable: unreadable.sort(byOrder),
    models: models.map((m, i) => ({ name: m.name, accuracy: (tallies[i] as AccuracyTally).summary() })),
    ...(models.length === 2 ? { comparison: { agreement: rate(agreed, evaluated), disagreements: disagreements.sort(byOrder) } } : {}),
    elapsedMs: performance.now() - started,
  };
}
