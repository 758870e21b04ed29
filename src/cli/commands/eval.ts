import { basename } from 'node:path';
import { type Classifier, createClassifier } from '../../classifier/index.js';
import { listDataset } from '../../eval/dataset.js';
import { type EvalModel, type EvalProgress, evaluate } from '../../eval/evaluate.js';
import { formatEvalProgress, formatEvalReport } from '../../eval/report.js';
import { argumentRule } from '../../guards.js';
import { IMAGENET_LABELS, labelFor } from '../../labels/index.js';
import type { Settings } from '../../settings.js';
import { type ModelSource, resolveModel } from '../../setup/resolve-model.js';
import { classifierOptions } from './shared.js';

/** Redraws at most ten times a second. */
const REDRAW_INTERVAL_MS = 100;

/**
 * `resnet-serve eval DIR`: accuracy of the model (and with `--compare`, of a second one) on a labelled set,
 * through the same batching classifier as the server. Prints the report (or JSON with `--json`) on stdout and a
 * progress bar on a terminal's stderr.
 *
 * @param source - how the command line names the model (as for classify and serve).
 * @returns the exit code, 0 (unreadable files are listed in the report, not fatal).
 * @throws ResnetServeError INVALID_ARGUMENT, INPUT_NOT_FOUND, and what resolving or loading a model throws.
 */
export async function evalCommand(settings: Settings, paths: readonly string[], source: ModelSource): Promise<number> {
  argumentRule(paths.length === 1, 'eval needs exactly one DIR (class sub-folders) or TSV file (path<TAB>index lines).');
  const dir = paths[0] as string;
  const { compare } = settings;
  argumentRule(
    compare !== 'int8' || (settings.model === undefined && settings.precision === 'fp32'),
    '--compare int8 quantises the weights the first model is converted from: use it with --weights (or the default weights) at fp32, not with --model.',
  );
  const models: { name: string; classifier: Classifier }[] = [];
  const load = async (name: string, model: string, precision: Settings['precision']): Promise<void> => {
    const classifier = await createClassifier({ ...classifierOptions(settings), model, precision });
    models.push({ name, classifier });
  };
  try {
    const first = await resolveModel(source);
    await load(settings.model === undefined ? settings.precision : basename(first), first, settings.precision);
    if (compare !== undefined) {
      const second =
        compare === 'int8'
          ? await resolveModel({ ...source, precision: 'int8' })
          : await resolveModel({ ...source, model: compare, weights: undefined });
      await load(compare === 'int8' ? 'int8' : basename(compare), second, compare === 'int8' ? 'int8' : 'fp32');
    }
    const classes = models[0]?.classifier.classes ?? 0;
    argumentRule(
      models.every((m) => m.classifier.classes === classes),
      `The models to compare have different class counts: ${models.map((m) => m.classifier.classes).join(' and ')}.`,
    );
    const dataset = await listDataset(dir, classes);
    const report = await evaluate(dataset, models as EvalModel[], {
      classes,
      // Two batches in flight per model: the queue always has the next batch ready, and memory stays bounded.
      concurrency: 2 * settings.maxBatch,
      onProgress: progressLine(),
    });
    // ImageNet names only for an ImageNet-sized model; another model's classes are just numbered.
    const name = (i: number): string => (classes === IMAGENET_LABELS.en.length ? labelFor(i, settings.lang) : `class ${i}`);
    process.stdout.write(settings.json ? `${JSON.stringify(report)}\n` : formatEvalReport(report, name));
    // Unreadable files are in the report; they do not make the run fail.
    return 0;
  } finally {
    await Promise.all(models.map((m) => m.classifier.close()));
  }
}

/** A self-overwriting progress line on a terminal's stderr; nothing in pipes and logs. */
function progressLine(stream: NodeJS.WriteStream = process.stderr): ((progress: EvalProgress) => void) | undefined {
  if (stream.isTTY !== true) return undefined;
  let lastDraw = 0;
  return (progress) => {
    const done = progress.done === progress.total;
    const now = Date.now();
    if (!done && now - lastDraw < REDRAW_INTERVAL_MS) return;
    lastDraw = now;
    stream.write(`\r${formatEvalProgress(progress)}\x1b[K${done ? '\n' : ''}`);
  };
}
