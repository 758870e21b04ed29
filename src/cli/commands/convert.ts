import { readFile } from 'node:fs/promises';
import { fileSystemFailed, ResnetServeError } from '../../errors.js';
import { writeFileAtomic } from '../../files/files.js';
import { argumentRule, requiredArgument } from '../../guards.js';
import { preprocessFolder } from '../../image/index.js';
import { convertToOnnx } from '../../model/architectures/resnet.js';
import { buildModel } from '../../model/build.js';
import { validateAgreement } from '../../model/quantize/quantize.js';
import { readStateDict } from '../../weights/read.js';
import type { Settings } from '../settings.js';
import { note } from './shared.js';

/** `resnet-serve convert --weights W --out M`: the ONNX model (fp32, or int8 with optional calibration and validation). */
export async function run(settings: Settings): Promise<number> {
  const { precision } = settings;
  const usage = 'convert needs --weights PATH and --out PATH.';
  const weights = requiredArgument(settings.weights, usage);
  const out = requiredArgument(settings.out, usage);
  argumentRule(
    precision === 'int8' || (settings.calibration === undefined && settings.validate === undefined),
    '--calibration and --validate go with --precision int8.',
  );
  const bytes = await readFile(weights).catch((cause: unknown) => {
    throw new ResnetServeError('INPUT_NOT_FOUND', `Cannot read ${weights}.`, { cause });
  });
  const stateDict = readStateDict(bytes);
  const calibration = settings.calibration === undefined ? undefined : await preprocessFolder(settings.calibration);
  const model = await buildModel(stateDict, { precision, calibration });
  await writeFileAtomic(out, model).catch((cause: unknown) => {
    throw fileSystemFailed(`Writing ${out}`, cause);
  });
  note(
    `Wrote ${out} (${precision}, ${(model.byteLength / 1e6).toFixed(1)} MB${calibration === undefined ? '' : `, calibrated on ${calibration.length} images`})`,
  );
  if (settings.validate !== undefined) {
    const report = await validateAgreement(convertToOnnx(stateDict), model, await preprocessFolder(settings.validate));
    const percent = (x: number): string => `${(x * 100).toFixed(1)}%`;
    process.stdout.write(
      `int8 vs fp32 on ${report.images} images: top-1 agreement ${percent(report.top1)}, ` +
        `fp32 top-1 within int8 top-3 ${percent(report.top3)}, mean KL ${report.meanKl.toExponential(2)} nats\n`,
    );
  }
  return 0;
}
