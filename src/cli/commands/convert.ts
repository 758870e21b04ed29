import { fileSystemFailed } from '../../errors.js';
import { writeFileAtomic } from '../../files/files.js';
import { argumentRule, requiredArgument } from '../../guards.js';
import { preprocessFolder } from '../../image/index.js';
import { modelId } from '../../model/contract.js';
import { validateAgreement } from '../../model/quantize/quantize.js';
import { convertWeights, planWeights } from '../../setup/resolve-model.js';
import type { Settings } from '../settings.js';
import { note } from './shared.js';

/**
 * `resnet-serve convert --weights W [--arch NAME] --out M`: the ONNX model (fp32, or int8 with optional calibration
 * and validation), with the model contract (architecture, weights, recipe) written into it.
 */
export async function run(settings: Settings): Promise<number> {
  const { precision } = settings;
  const usage = 'convert needs --weights PATH and --out PATH.';
  const weights = requiredArgument(settings.weights, usage);
  const out = requiredArgument(settings.out, usage);
  argumentRule(
    precision === 'int8' || (settings.calibration === undefined && settings.validate === undefined),
    '--calibration and --validate go with --precision int8.',
  );
  const plan = await planWeights(weights, settings.arch, settings.home);
  const { model, calibrated } = await convertWeights(plan, precision, settings.calibration);
  await writeFileAtomic(out, model).catch((cause: unknown) => {
    throw fileSystemFailed(`Writing ${out}`, cause);
  });
  const size = `${(model.byteLength / 1e6).toFixed(1)} MB`;
  note(
    `Wrote ${out} (${modelId(plan.architecture, plan.sha256)}, ${precision}, ${size}${calibrated === undefined ? '' : `, calibrated on ${calibrated} images`})`,
  );
  if (settings.validate !== undefined) {
    const fp32 = await convertWeights(plan, 'fp32', undefined);
    const report = await validateAgreement(fp32.model, model, await preprocessFolder(settings.validate, plan.recipe));
    const percent = (x: number): string => `${(x * 100).toFixed(1)}%`;
    process.stdout.write(
      `int8 vs fp32 on ${report.images} images: top-1 agreement ${percent(report.top1)}, ` +
        `fp32 top-1 within int8 top-3 ${percent(report.top3)}, mean KL ${report.meanKl.toExponential(2)} nats\n`,
    );
  }
  return 0;
}
