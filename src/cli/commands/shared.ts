import { CLASSIFIER_OPTIONS, type ClassifierOptions } from '../../classifier/options.js';
import { argumentRule } from '../../guards.js';
import type { ModelSource } from '../../setup/resolve-model.js';
import { weightsFileName } from '../../weights/fetch.js';
import { type Command, type Settings, stageOptions } from '../settings.js';
import { downloadProgressBar } from '../tty.js';

/** One human line on stderr: progress and outcomes that are not the command's output. */
export function note(message: string): void {
  process.stderr.write(`${message}\n`);
}

/** How a command reports the one-time steps of finding its model: a download's progress, a conversion. */
export type SetupReport = Pick<ModelSource, 'onStep' | 'onProgress'>;

/**
 * Where the model comes from, for every command that loads one. By default each step is a {@link note} and a
 * download draws a bar on a terminal; `serve` logs them instead.
 */
export function modelSource(settings: Settings, report?: SetupReport): ModelSource {
  argumentRule(settings.model === undefined || settings.weights === undefined, 'Give either --model or --weights, not both.');
  return {
    model: settings.model,
    weights: settings.weights,
    weightsUrl: settings.weightsUrl,
    precision: settings.precision,
    calibration: settings.calibration,
    home: settings.home,
    ...(report ?? { onStep: note, onProgress: downloadProgressBar(weightsFileName(settings.weightsUrl)) }),
  };
}

/** The classifier options `command` takes from its settings; the command adds the model and what is its own. */
export function classifierOptions(command: Command, settings: Settings): Omit<ClassifierOptions, 'model'> {
  return { ...stageOptions(command, settings, CLASSIFIER_OPTIONS), precision: settings.precision, cacheDir: settings.home };
}
