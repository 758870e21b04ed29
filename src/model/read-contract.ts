import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { basename, dirname, extname, join } from 'node:path';
import { invalidArgument, messageOf, ResnetServeError } from '../errors.js';
import { sha256OfFile } from '../files/sha256.js';
import { oneOf } from '../guards.js';
import { checkRecipe, type PreprocessRecipe } from '../image/recipe.js';
import { contractOf, isConverted, type ModelContract } from './contract.js';
import { fileSource } from './onnx/file-source.js';
import { readModelOutline } from './onnx/model-reader.js';
import { bytesSource } from './onnx/read.js';
import { PRECISIONS, type Precision } from './types.js';

/** What a `<stem>.json` beside a model or weights file may say. */
export interface Sidecar {
  /** The model's preprocessing, checked by `checkRecipe`. */
  readonly recipe?: PreprocessRecipe;
  /** A weights file's TorchVision architecture (in a model repository, where no `--arch` is given). */
  readonly arch?: string;
  /** The precision a weights file is converted to (in a model repository, where no `--precision` is given). */
  readonly precision?: Precision;
}

const SIDECAR_KEYS = ['recipe', 'arch', 'precision'] as const;
/** A sidecar is a few hundred bytes; anything much larger is not one. */
const MAX_SIDECAR_BYTES = 64 * 1024;

/**
 * `<stem>.json` beside `path` (`model.onnx` → `model.json`), or an empty sidecar when there is none; checked strictly:
 * a JSON object with only the keys of {@link Sidecar}, each valid.
 * @throws ResnetServeError INVALID_ARGUMENT naming the file and the field when it is malformed.
 */
export async function readSidecar(path: string): Promise<Sidecar> {
  const file = join(dirname(path), `${basename(path, extname(path))}.json`);
  const bytes = await readFile(file).catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') return undefined;
    throw new ResnetServeError('INPUT_NOT_FOUND', `Cannot read ${file}: ${messageOf(error)}`, { cause: error });
  });
  if (bytes === undefined) return {};
  if (bytes.length > MAX_SIDECAR_BYTES) throw invalidArgument(file, `at most ${MAX_SIDECAR_BYTES} bytes of JSON`, `${bytes.length} bytes`);
  let value: unknown;
  try {
    value = JSON.parse(bytes.toString('utf8'));
  } catch (cause) {
    throw new ResnetServeError('INVALID_ARGUMENT', `${file} is not JSON: ${messageOf(cause)}`, { cause, details: { parameter: file } });
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw invalidArgument(file, 'a JSON object', value);
  const fields = value as Record<string, unknown>;
  const unknown = Object.keys(fields).find((key) => !(SIDECAR_KEYS as readonly string[]).includes(key));
  if (unknown !== undefined)
    throw invalidArgument(`${unknown} in ${file}`, `nothing: its keys are ${SIDECAR_KEYS.join(', ')}`, fields[unknown]);
  const { recipe, arch, precision } = fields;
  if (arch !== undefined && (typeof arch !== 'string' || arch === ''))
    throw invalidArgument(`arch in ${file}`, 'a TorchVision builder name', arch);
  return {
    ...(recipe === undefined ? {} : { recipe: checkRecipe(recipe, `the recipe in ${file}`) }),
    ...(arch === undefined ? {} : { arch }),
    ...(precision === undefined ? {} : { precision: oneOf(`precision in ${file}`, precision, PRECISIONS) }),
  };
}

export interface ReadContractOptions {
  /** Where the SHA-256 of an `.onnx` made elsewhere is remembered (files/sha256.ts). Default: not remembered. */
  cacheDir?: string;
}

/**
 * The contract of an ONNX model (see {@link ModelContract}): from the metadata resnet-serve's converter wrote into
 * it, or for a model made elsewhere from its graph, its file's name and SHA-256, and `<stem>.json` beside it. Only
 * the file's small fields are read, and a foreign file's bytes once for its hash.
 *
 * @param model - a path to an `.onnx` file, or its bytes (named `model`, with no sidecar).
 * @throws ResnetServeError MODEL_INVALID (not an ONNX model, or not one resnet-serve runs); INVALID_ARGUMENT (a
 *   malformed `<stem>.json`); INPUT_NOT_FOUND (unreadable).
 */
export async function readModelContract(model: string | Uint8Array, options: ReadContractOptions = {}): Promise<ModelContract> {
  const what = typeof model === 'string' ? model : 'the ONNX model';
  const source =
    typeof model === 'string'
      ? await fileSource(model).catch((cause: unknown) => {
          throw new ResnetServeError('INPUT_NOT_FOUND', `The model file ${model} does not exist or cannot be read.`, { cause });
        })
      : bytesSource(model);
  const outline = await readModelOutline(source)
    .catch((cause: unknown) => {
      throw new ResnetServeError('MODEL_INVALID', `${what} is not an ONNX model: ${messageOf(cause)}`, { cause });
    })
    .finally(() => source.close());
  if (typeof model !== 'string') {
    const sha256 = isConverted(outline) ? '' : createHash('sha256').update(model).digest('hex');
    return contractOf(outline, { stem: 'model', file: 'model.onnx', sha256 });
  }
  const { recipe, ...converting } = await readSidecar(model);
  const misplaced = Object.keys(converting)[0];
  if (misplaced !== undefined) {
    throw invalidArgument(
      `${misplaced} in the .json beside ${model}`,
      'nothing: an .onnx model says what it is itself (only its recipe may be given)',
      misplaced,
    );
  }
  // A converted model names the weights it came from; only one made elsewhere is named by its own hash.
  const sha256 = isConverted(outline) ? '' : await sha256OfFile(model, options.cacheDir);
  return contractOf(outline, {
    stem: basename(model, extname(model)),
    file: basename(model),
    sha256,
    ...(recipe === undefined ? {} : { recipe }),
  });
}
