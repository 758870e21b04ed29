import type { ClassifierOptions } from '../../classifier/index.js';
import { argumentRule } from '../../guards.js';
import type { Settings } from '../../settings.js';
import type { ModelSource } from '../../setup/resolve-model.js';
import { DEFAULT_WEIGHTS } from '../../weights/default-weights.js';
import { weightsFileName } from '../../weights/fetch.js';
import { progressBar } from '../../weights/progress.js';

/** One human line on stderr: progress and outcomes that are not the command's output. */
export function note(message: string): void {
  process.stderr.write(`${message}\n`);
}

/** A progress bar on a terminal, nothing in pipes and logs. */
function downloadProgress(settings: Settings): ReturnType<typeof progressBar> {
  return progressBar(weightsFileName(settings.weightsUrl ?? DEFAULT_WEIGHTS.url));
}

/** Where the model comes from, for every command that loads one. */
export function modelSource(settings: Settings, onStep: (message: string) => void = note): ModelSource {
  argumentRule(settings.model === undefined || settings.weights === undefined, 'Give either --model or --weights, not both.');
  return {
    model: settings.model,
    weights: settings.weights,
    weightsUrl: settings.weightsUrl,
    precision: settings.precision,
    calibration: settings.calibration,
    home: settings.home,
    onStep,
    onProgress: downloadProgress(settings),
  };
}

/** The classifier options every command takes from its settings; the command adds the model and what is its own. */
export function classifierOptions(settings: Settings): Omit<ClassifierOptions, 'model'> {
  return {
    precision: settings.precision,
    threads: settings.threads,
    maxQueue: settings.maxQueue,
    maxBatch: settings.maxBatch,
    batchWaitMs: settings.batchWaitMs,
    decodeConcurrency: settings.decodeConcurrency,
    decodeBudgetBytes: settings.decodeBudgetBytes,
    requestTimeoutMs: settings.requestTimeoutMs,
    maxPixels: settings.maxPixels,
    cacheDir: settings.home,
  };
}
