import { createHash } from 'node:crypto';
import { mkdir, readdir, readFile, stat } from 'node:fs/promises';
import { basename, extname, join } from 'node:path';
import { fileSystemFailed, ResnetServeError } from '../errors.js';
import { cacheDir } from '../files/cache-dir.js';
import { isFile, writeFileAtomic } from '../files/files.js';
import { optionsObject } from '../guards.js';
import { preprocessFolder } from '../image/index.js';
import { checkRecipe, type PreprocessRecipe } from '../image/recipe.js';
import { architectureOf } from '../model/architectures/index.js';
import { CONVERTER_VERSION } from '../model/converter-version.js';
import { readSidecar } from '../model/read-contract.js';
import { DEFAULT_PRECISION, type Precision } from '../model/types.js';
import { checkWeightsFile } from '../weights/check-weights.js';
import { DEFAULT_ARCHITECTURE } from '../weights/default-weights.js';
import { type ResolveWeightsOptions, resolveWeights, weightsFileName } from '../weights/fetch.js';
import { architectureOfWeightsFile, defaultWeightsOf } from '../weights/official-weights.js';

export interface ModelSource {
  /** A ready `.onnx` model, used as is; it carries its own architecture and recipe (or `<stem>.json` does). */
  model?: string;
  /**
   * TorchVision's builder name (`resnet50`), as `torchvision.models.get_model` takes it. Default: what the weights
   * file's name implies (`resnet50-11ad3fa6.pth`), else `resnet18`. Without `weights`, its DEFAULT weights are used.
   */
  architecture?: string;
  /** A `.pth` or `.safetensors` state_dict to convert (and cache). */
  weights?: string;
  /** Where to download the weights from (mirrors). Default: the architecture's DEFAULT weights' URL. */
  weightsUrl?: string;
  /** Default `fp32`. */
  precision?: Precision;
  /** int8 only: a folder of calibration images; without it the activation ranges come from BatchNorm statistics. */
  calibration?: string;
  /** Cache folder. Default `cacheDir()`. */
  home?: string;
  /** Called with one human line whenever a slow one-time step starts (download, conversion). */
  onStep?(message: string): void;
  /** Download progress of the default or `weightsUrl` weights. */
  onProgress?: ResolveWeightsOptions['onProgress'];
}

/** A weights file as the converter takes it: which architecture it is, its hash, and its inputs' recipe. */
export interface WeightsPlan {
  readonly path: string;
  readonly architecture: string;
  /** SHA-256, hex, checked against the prefix a TorchVision file name promises. */
  readonly sha256: string;
  readonly recipe: PreprocessRecipe;
}

/**
 * The architecture to build: `requested` (`--arch`), or what the weights file's name implies, or `resnet18`.
 * @param fileName - the weights file's name (of `--weights`, or of the URL's last segment), when there is one.
 * @throws ResnetServeError INVALID_ARGUMENT naming both when `requested` and the name disagree, or for a name
 *   resnet-serve does not build (listing the builders it does).
 */
export function chooseArchitecture(requested: string | undefined, fileName: string | undefined): string {
  const implied = fileName === undefined ? undefined : architectureOfWeightsFile(fileName);
  if (requested !== undefined && implied !== undefined && requested !== implied) {
    throw new ResnetServeError(
      'INVALID_ARGUMENT',
      `--arch ${requested} does not fit the weights ${fileName}, which TorchVision publishes for ${implied}: give --arch ${implied}, or leave --arch out.`,
      { details: { parameter: 'architecture', architecture: requested, weights: fileName, implied } },
    );
  }
  return architectureOf(requested ?? implied ?? DEFAULT_ARCHITECTURE).name;
}

/**
 * What converting `path` needs to know, checked before anything is built: the architecture (see
 * {@link chooseArchitecture}), the file's SHA-256 (remembered in `home`, and refused when its TorchVision name
 * promises another), and the recipe: a `<stem>.json` beside the file, else the architecture's DEFAULT weights'.
 *
 * @throws ResnetServeError INVALID_ARGUMENT, WEIGHTS_INVALID, INPUT_NOT_FOUND.
 */
export async function planWeights(path: string, requested: string | undefined, home: string | undefined): Promise<WeightsPlan> {
  const architecture = chooseArchitecture(requested, basename(path));
  const sha256 = await checkWeightsFile(path, home);
  const sidecar = await readSidecar(path);
  const official = defaultWeightsOf(architecture);
  const recipe = sidecar.recipe ?? checkRecipe(official.recipe, `the recipe of ${official.enum}.${official.weights}`);
  return { path, architecture, sha256, recipe };
}

/**
 * Finds the ONNX model to serve: `--model` as is; otherwise the weights (local, cached or downloaded), checked,
 * converted (and for int8 quantised) once and cached as `<home>/models/<weights name>-<key>.<precision>.onnx`
 * (key: the weights' SHA-256, the architecture, the recipe and the converter's version), with the model contract
 * written into it (model/contract.ts).
 *
 * @returns the path of an `.onnx` file.
 * @throws ResnetServeError INPUT_NOT_FOUND, INVALID_ARGUMENT (`architecture` unknown, or contradicting the weights'
 *   name, or given with `model`), WEIGHTS_UNAVAILABLE, DOWNLOAD_FAILED, CHECKSUM_MISMATCH, WEIGHTS_INVALID,
 *   CHECKPOINT_INVALID, CHECKPOINT_UNSAFE, STATE_DICT_MISMATCH, FILESYSTEM_ERROR.
 */
export async function resolveModel(source: ModelSource): Promise<string> {
  optionsObject('source', source);
  if (source.model !== undefined) {
    if (source.architecture !== undefined) {
      throw new ResnetServeError(
        'INVALID_ARGUMENT',
        `--arch goes with --weights (or the default weights), not --model: ${source.model} says what it is itself (or a ${basename(source.model, extname(source.model))}.json beside it does).`,
        { details: { parameter: 'architecture' } },
      );
    }
    await stat(source.model).catch((cause: unknown) => {
      throw new ResnetServeError('INPUT_NOT_FOUND', `The model file ${source.model} does not exist or cannot be read.`, { cause });
    });
    return source.model;
  }
  const home = source.home ?? cacheDir();
  // A `<stem>.json` beside the weights may say what they are (as in a model repository); the options say it first.
  const sidecar = source.weights === undefined ? {} : await readSidecar(source.weights);
  const precision = source.precision ?? sidecar.precision ?? DEFAULT_PRECISION;
  // Checked before any download: a wrong --arch costs nothing.
  const named =
    source.weights !== undefined
      ? basename(source.weights)
      : source.weightsUrl === undefined
        ? undefined
        : weightsFileName(source.weightsUrl);
  const architecture = chooseArchitecture(source.architecture ?? sidecar.arch, named);
  const weightsPath = await resolveWeights({
    weightsPath: source.weights,
    weightsUrl: source.weightsUrl,
    architecture,
    home,
    onProgress: source.onProgress,
  });
  const plan = await planWeights(weightsPath, architecture, home);
  const stem = basename(weightsPath, extname(weightsPath));
  const variant =
    precision === 'int8' && source.calibration !== undefined
      ? `int8-${(await folderFingerprint(source.calibration)).slice(0, 12)}`
      : precision;
  const key = createHash('sha256')
    .update([plan.sha256, plan.architecture, JSON.stringify(plan.recipe), `converter ${CONVERTER_VERSION}`].join('\0'))
    .digest('hex');
  const target = join(home, 'models', `${stem}-${key.slice(0, 12)}.${variant}.onnx`);
  if (await isFile(target)) return target;

  source.onStep?.(
    `Converting ${basename(weightsPath)} (${plan.architecture}) to ONNX (${precision}); this happens once and is cached at ${target}`,
  );
  const { model } = await convertWeights(plan, precision, source.calibration);
  await mkdir(join(home, 'models'), { recursive: true })
    .then(() => writeFileAtomic(target, model))
    .catch((cause: unknown) => {
      throw fileSystemFailed(`Writing the converted model to ${target}`, cause);
    });
  return target;
}

/**
 * Reads, builds (and for int8 calibrates on `calibration`, preprocessed with the weights' recipe) the model of a
 * planned weights file: the bytes `convert` writes and the cache holds, and how many images calibrated them. The
 * converter, the quantiser and ONNX Runtime are loaded only here, so a cached start never imports them.
 */
export async function convertWeights(
  plan: WeightsPlan,
  precision: Precision,
  calibration: string | undefined,
): Promise<{ model: Uint8Array; calibrated: number | undefined }> {
  const [{ buildModel }, { readStateDict }] = await Promise.all([import('../model/build.js'), import('../weights/read.js')]);
  const images = precision === 'int8' && calibration !== undefined ? await preprocessFolder(calibration, plan.recipe) : undefined;
  const bytes = await readFile(plan.path).catch((cause: unknown) => {
    throw new ResnetServeError('INPUT_NOT_FOUND', `Cannot read ${plan.path}.`, { cause });
  });
  const model = await buildModel(readStateDict(bytes), {
    architecture: plan.architecture,
    precision,
    recipe: plan.recipe,
    weights: { file: basename(plan.path), sha256: plan.sha256 },
    calibration: images,
  });
  return { model, calibrated: images?.length };
}

/** Names, sizes and modification times: enough to notice a changed calibration set without decoding it. */
async function folderFingerprint(dir: string): Promise<string> {
  const names = await readdir(dir).catch((cause: unknown) => {
    throw new ResnetServeError('INPUT_NOT_FOUND', `Cannot read the calibration folder ${dir}.`, { cause });
  });
  const hash = createHash('sha256');
  for (const name of names.sort()) {
    const info = await stat(join(dir, name));
    hash.update(`${name}\0${info.size}\0${info.mtimeMs}\n`);
  }
  return hash.digest('hex');
}
