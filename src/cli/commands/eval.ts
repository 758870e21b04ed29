import { basename } from 'node:path';
import { type Classifier, createClassifier } from '../../classifier/index.js';
import { listDataset } from '../../eval/dataset.js';
import { type EvalModel, evaluate } from '../../eval/evaluate.js';
import { argumentRule } from '../../guards.js';
import { IMAGENET_LABELS, labelFor } from '../../labels/index.js';
import { resolveModel } from '../../setup/resolve-model.js';
import { formatEvalReport } from '../eval-report.js';
import type { Settings } from '../settings.js';
import { evalProgressBar } from '../tty.js';
import { classifierOptions, modelSource } from './shared.js';

/**
 * `resnet-serve eval DIR`: accuracy of the model (and with `--compare`, of a second one) on a labelled set,
 * through the same batching classifier as the server. Prints the report (or JSON with `--json`) on stdout and a
 * progress bar on a terminal's stderr.
 *
 * @returns the exit code, 0 (unreadable files are listed in the report, not fatal).
 * @throws ResnetServeError INVALID_ARGUMENT, INPUT_NOT_FOUND, and what resolving or loading a model throws.
 */
export async function run(settings: Settings, operands: readonly string[]): Promise<number> {
  const dir = operands[0] as string;
  const source = modelSource(settings);
  const { compare } = settings;
  argumentRule(
    compare !== 'int8' || (settings.model === undefined && settings.precision === 'fp32'),
    '--compare int8 quantises the weights the first model is converted from: use it with --weights (or the default weights) at fp32, not with --model.',
  );
  const models: { name: string; classifier: Classifier }[] = [];
  const load = async (name: string, model: string, precision: Settings['precision']): Promise<void> => {
    const classifier = await createClassifier({ ...classifierOptions('eval', settings), model, precision });
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
      onProgress: evalProgressBar(),
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
