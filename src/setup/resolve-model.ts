import { createHash } from 'node:crypto';
import { mkdir, readdir, readFile, stat } from 'node:fs/promises';
import { basename, extname, join } from 'node:path';
import { fileSystemFailed, ResnetServeError } from '../errors.js';
import { cacheDir } from '../files/cache-dir.js';
import { fileKey, isFile, writeFileAtomic } from '../files/files.js';
import { optionsObject } from '../guards.js';
import { preprocessFolder } from '../image/index.js';
import { CONVERTER_VERSION } from '../model/converter-version.js';
import { DEFAULT_PRECISION, type Precision } from '../model/types.js';
import { type ResolveWeightsOptions, resolveWeights } from '../weights/fetch.js';

export interface ModelSource {
  /** A ready `.onnx` model, used as is. */
  model?: string;
  /** A `.pth` or `.safetensors` state_dict to convert (and cache). */
  weights?: string;
  /** Where to download the default weights from (mirrors). */
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

/**
 * Finds the ONNX model to serve: `--model` as is; otherwise the weights (local, cached or downloaded),
 * converted (and for int8 quantised) once and cached as `<home>/models/<weights name>-<key>.<precision>.onnx`
 * (key: the weights file's path, size and modification time, and the converter's version).
 *
 * @returns the path of an `.onnx` file.
 * @throws ResnetServeError INPUT_NOT_FOUND, WEIGHTS_UNAVAILABLE, DOWNLOAD_FAILED, CHECKSUM_MISMATCH,
 *   CHECKPOINT_INVALID, CHECKPOINT_UNSAFE, STATE_DICT_MISMATCH, FILESYSTEM_ERROR.
 */
export async function resolveModel(source: ModelSource): Promise<string> {
  optionsObject('source', source);
  if (source.model !== undefined) {
    await stat(source.model).catch((cause: unknown) => {
      throw new ResnetServeError('INPUT_NOT_FOUND', `The model file ${source.model} does not exist or cannot be read.`, { cause });
    });
    return source.model;
  }
  const home = source.home ?? cacheDir();
  const precision = source.precision ?? DEFAULT_PRECISION;
  const weightsPath = await resolveWeights({
    weightsPath: source.weights,
    weightsUrl: source.weightsUrl,
    home,
    onProgress: source.onProgress,
  });
  const stem = basename(weightsPath, extname(weightsPath));
  const variant =
    precision === 'int8' && source.calibration !== undefined
      ? `int8-${(await folderFingerprint(source.calibration)).slice(0, 12)}`
      : precision;
  const key = createHash('sha256')
    .update(`${await fileKey(weightsPath)}\0converter ${CONVERTER_VERSION}`)
    .digest('hex');
  const target = join(home, 'models', `${stem}-${key.slice(0, 12)}.${variant}.onnx`);
  if (await isFile(target)) return target;

  source.onStep?.(`Converting ${basename(weightsPath)} to ONNX (${precision}); this happens once and is cached at ${target}`);
  const calibration = precision === 'int8' && source.calibration !== undefined ? await preprocessFolder(source.calibration) : undefined;
  // Loaded only on a cache miss: a cached start never imports the converter, the quantiser or ONNX Runtime.
  const [{ buildModel }, { readStateDict }] = await Promise.all([import('../model/build.js'), import('../weights/read.js')]);
  const model = await buildModel(readStateDict(await readFile(weightsPath)), { precision, calibration });
  await mkdir(join(home, 'models'), { recursive: true })
    .then(() => writeFileAtomic(target, model))
    .catch((cause: unknown) => {
      throw fileSystemFailed(`Writing the converted model to ${target}`, cause);
    });
  return target;
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
