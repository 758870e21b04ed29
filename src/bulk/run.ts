import { readFile } from 'node:fs/promises';
import type { Classifier } from '../classifier/index.js';
import { fileSystemFailed, isResnetServeError, messageOf, ResnetServeError } from '../errors.js';
import { renderCamOverlay } from '../explain/cam-overlay.js';
import { writeFileAtomic } from '../files/files.js';
import { looksLikeImage } from '../image/folder-walk.js';
import type { Prediction } from '../labels/types.js';
import type { Precision } from '../model/types.js';
import type { Input } from './inputs.js';

/**
 * What `classify` reports for one file: the model that answered (its id and precision, as /predict names them), its
 * classes (and where its class-activation overlay went), or why it has none.
 */
export type FileResult =
  | { file: string; model: string; precision: Precision; predictions: Prediction[]; overlay?: string }
  | { file: string; error: string };

export interface ClassifyInputsOptions {
  topK: number;
  /** Files read and classifying at once: enough to fill the batches, bounded so a million files are never all in memory. */
  concurrency: number;
  /** Every result, in the order they finish; awaited before that worker takes its next file. */
  onResult(result: FileResult, index: number): Promise<void> | void;
  /** After every file, skipped ones included: how many are finished. */
  onProgress?(finished: number): void;
  /** `--explain`: where input `index`'s overlay goes, and the pixel limit its rendering keeps to. */
  explain?: { overlayFor(index: number): string; maxPixels: number };
  /** Once aborted, no new file is started; the files in flight finish and are reported. */
  signal?: AbortSignal;
}

/**
 * Classifies `inputs` through one classifier, `concurrency` at a time. A file found in a folder whose bytes are
 * not an image is skipped (no result); anything else that fails gets an error result in its place.
 *
 * @returns how many files were finished (skipped ones included) and how many of them were skipped: every file
 *   unless `signal` stopped the run early.
 */
export async function classifyInputs(
  classifier: Classifier,
  inputs: readonly Input[],
  options: ClassifyInputsOptions,
): Promise<{ finished: number; skipped: number }> {
  let next = 0;
  let finished = 0;
  let skipped = 0;
  const worker = async (): Promise<void> => {
    while (next < inputs.length && options.signal?.aborted !== true) {
      const index = next++;
      const input = inputs[index]!;
      const result = await classifyInput(classifier, input, index, options);
      if (result === undefined) skipped++;
      else await options.onResult(result, index);
      options.onProgress?.(++finished);
    }
  };
  await Promise.all(Array.from({ length: Math.min(options.concurrency, inputs.length) }, worker));
  return { finished, skipped };
}

async function classifyInput(
  classifier: Classifier,
  input: Input,
  index: number,
  options: ClassifyInputsOptions,
): Promise<FileResult | undefined> {
  const file = input.path;
  const { topK, explain } = options;
  try {
    if (input.fromFolder && !(await looksLikeImage(file))) return undefined;
    const bytes = await readFile(file).catch((cause: unknown) => {
      throw new ResnetServeError('INPUT_NOT_FOUND', `Cannot read ${file}: ${messageOf(cause)}`, { cause });
    });
    const { predictions, explanation } = await classifier.classify(bytes, { topK, explain: explain !== undefined });
    const answered = { file, model: classifier.model.id, precision: classifier.model.precision, predictions };
    if (explain === undefined || explanation === undefined) return answered;
    const overlay = explain.overlayFor(index);
    const png = await renderCamOverlay(bytes, explanation.crop, explanation.maps[0] ?? new Float32Array(), explain.maxPixels);
    await writeFileAtomic(overlay, png).catch((cause: unknown) => {
      throw fileSystemFailed(`Writing ${overlay}`, cause);
    });
    return { ...answered, overlay };
  } catch (error) {
    if (!isResnetServeError(error)) {
      // A folder member that vanished or cannot be opened while sniffing is reported like any unreadable file.
      if (input.fromFolder && (error as NodeJS.ErrnoException).code !== undefined)
        return { file, error: `Cannot read ${file}: ${messageOf(error)}` };
      throw error;
    }
    return { file, error: error.message };
  }
}
