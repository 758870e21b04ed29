import { basename } from 'node:path';
import { CLASSIFIER_OPTIONS, type ClassifierOptions } from '../../classifier/options.js';
import { argumentRule } from '../../guards.js';
import { chooseArchitecture, type ModelSource } from '../../setup/resolve-model.js';
import { weightsFileName } from '../../weights/fetch.js';
import { defaultWeightsOf } from '../../weights/official-weights.js';
import { type Command, type Settings, stageOptions } from '../settings.js';
import { downloadProgressBar } from '../tty.js';

/** One human line on stderr: progress and outcomes that are not the command's output. */
export function note(message: string): void {
  process.stderr.write(`${message}\n`);
}

/**
 * The file a command downloads when it has no `--weights`: `--weights-url`'s, else the DEFAULT weights of the
 * architecture (`--arch`, else what the URL's name implies, else resnet18).
 * @throws ResnetServeError INVALID_ARGUMENT for an unknown `--arch` or one the URL's name contradicts.
 */
export function downloadedFile(settings: Pick<Settings, 'arch' | 'weightsUrl'>): { architecture: string; fileName: string } {
  const named = settings.weightsUrl === undefined ? undefined : weightsFileName(settings.weightsUrl);
  const architecture = chooseArchitecture(settings.arch, named);
  return { architecture, fileName: named ?? defaultWeightsOf(architecture).fileName };
}

/** How a command reports the one-time steps of finding its model: a download's progress, a conversion. */
export type SetupReport = Pick<ModelSource, 'onStep' | 'onProgress'>;

/**
 * Where the model comes from, for every command that loads one. By default each step is a {@link note} and a
 * download draws a bar on a terminal; `serve` logs them instead.
 */
export function modelSource(settings: Settings, report?: SetupReport): ModelSource {
  argumentRule(settings.model === undefined || settings.weights === undefined, 'Give either --model or --weights, not both.');
  // The bar's label is only needed for a download: none with --model or --weights.
  const label =
    settings.model === undefined && settings.weights === undefined ? downloadedFile(settings).fileName : basename(settings.weights ?? '');
  return {
    model: settings.model,
    architecture: settings.arch,
    weights: settings.weights,
    weightsUrl: settings.weightsUrl,
    precision: settings.precision,
    calibration: settings.calibration,
    home: settings.home,
    ...(report ?? { onStep: note, onProgress: downloadProgressBar(label) }),
  };
}

/** The classifier options `command` takes from its settings; the command adds the model and what is its own. */
export function classifierOptions(command: Command, settings: Settings): Omit<ClassifierOptions, 'model'> {
  return { ...stageOptions(command, settings, CLASSIFIER_OPTIONS), cacheDir: settings.home };
}
