import { extname } from 'node:path';
import { type Classifier, createClassifier } from '../../classifier/index.js';
import { listDataset } from '../../eval/dataset.js';
import { type EvalModel, evaluate } from '../../eval/evaluate.js';
import { argumentRule } from '../../guards.js';
import { labelFor } from '../../labels/index.js';
import type { ModelContract } from '../../model/contract.js';
import { type ModelSource, resolveModel } from '../../setup/resolve-model.js';
import { formatEvalReport } from '../eval-report.js';
import type { Settings } from '../settings.js';
import { evalProgressBar } from '../tty.js';
import { classifierOptions, modelSource } from './shared.js';

/**
 * `resnet-serve eval DIR`: accuracy of the model (and with `--compare` / `--compare-arch`, of a second one) on a
 * labelled set, through the same batching classifier as the server. Prints the report (or JSON with `--json`) on
 * stdout, each model named by its id and precision, and a progress bar on a terminal's stderr.
 *
 * @returns the exit code, 0 (unreadable files are listed in the report, not fatal).
 * @throws ResnetServeError INVALID_ARGUMENT, INPUT_NOT_FOUND, and what resolving or loading a model throws.
 */
export async function run(settings: Settings, operands: readonly string[]): Promise<number> {
  const dir = operands[0] as string;
  const source = modelSource(settings);
  const compared = compareSettings(settings);
  const second = compared === undefined ? undefined : modelSource(compared);
  const models: { name: string; classifier: Classifier }[] = [];
  const load = async (from: ModelSource): Promise<void> => {
    const classifier = await createClassifier({ ...classifierOptions('eval', settings), model: await resolveModel(from) });
    models.push({ name: modelLabel(classifier.model), classifier });
  };
  try {
    await load(source);
    if (second !== undefined) await load(second);
    const [first, other] = models;
    const classes = first?.classifier.model.classes ?? 0;
    argumentRule(
      other === undefined || other.classifier.model.classes === classes,
      `The models to compare have different class counts: ${models.map((m) => m.classifier.model.classes).join(' and ')}.`,
    );
    if (other !== undefined && other.name === first?.name) other.name += ' (2)';
    const dataset = await listDataset(dir, classes);
    const report = await evaluate(dataset, models as EvalModel[], {
      classes,
      // Two batches in flight per model: the queue always has the next batch ready, and memory stays bounded.
      concurrency: 2 * settings.maxBatch,
      onProgress: evalProgressBar(),
    });
    // ImageNet names only for a model with ImageNet's classes; another model's classes are just numbered.
    const imagenet = first?.classifier.model.labels === 'imagenet-1k';
    const name = (i: number): string => (imagenet ? labelFor(i, settings.lang) : `class ${i}`);
    process.stdout.write(settings.json ? `${JSON.stringify(report)}\n` : formatEvalReport(report, name));
    // Unreadable files are in the report; they do not make the run fail.
    return 0;
  } finally {
    await Promise.all(models.map((m) => m.classifier.close()));
  }
}

/** How a report names a model: its id and precision (`resnet50-11ad3fa6 fp32`), so int8 and fp32 of one model differ. */
function modelLabel(model: ModelContract): string {
  return `${model.id} ${model.precision}`;
}

/**
 * The second model of `eval`, or undefined without `--compare`/`--compare-arch`:
 * - `--compare int8`: the first model's weights quantised (the first must be weights at fp32);
 * - `--compare M.onnx`: that model;
 * - `--compare W.pth|.safetensors`: those weights, of `--compare-arch` or the architecture their name implies;
 * - `--compare-arch NAME` alone: that architecture's DEFAULT weights.
 * Both models run at `--precision` unless the second is `int8`.
 * @throws ResnetServeError INVALID_ARGUMENT for a combination that names no single second model.
 */
function compareSettings(settings: Settings): Settings | undefined {
  const { compare, compareArch } = settings;
  if (compare === undefined && compareArch === undefined) return undefined;
  const base: Settings = {
    ...settings,
    model: undefined,
    weights: undefined,
    weightsUrl: undefined,
    arch: undefined,
    calibration: undefined,
  };
  if (compare === 'int8') {
    argumentRule(
      settings.model === undefined && settings.precision === 'fp32',
      '--compare int8 quantises the weights the first model is converted from: use it with --weights (or the default weights) at fp32, not with --model.',
    );
    argumentRule(
      compareArch === undefined,
      '--compare int8 compares the same weights quantised: leave out --compare-arch, or compare --compare-arch NAME at fp32.',
    );
    return { ...settings, precision: 'int8' };
  }
  if (compare !== undefined && extname(compare).toLowerCase() === '.onnx') {
    argumentRule(
      compareArch === undefined,
      `--compare-arch goes with weights, not with the model ${compare}, which says what it is itself.`,
    );
    return { ...base, model: compare };
  }
  return { ...base, weights: compare, arch: compareArch };
}
