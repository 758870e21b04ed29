import { readdir, stat } from 'node:fs/promises';
import { extname, join } from 'node:path';
import { ResnetServeError } from '../errors.js';
import { readSidecar } from '../model/read-contract.js';
import type { Precision } from '../model/types.js';

/** The files a model repository serves, each a model named by its stem; a `<stem>.json` beside one describes it. */
export const MODEL_FILE_EXTENSIONS = ['.pth', '.safetensors', '.onnx'] as const;

/** Most models one repository serves: each is a session, a thread and a queue. */
export const MAX_REPOSITORY_MODELS = 64;

/**
 * A model's name is a URL path segment in every protocol (`/v2/models/{name}`, `/predictions/{name}`): letters,
 * digits, `.`, `_` and `-`, starting with a letter or digit, as Triton's and TorchServe's names are written.
 */
const MODEL_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

/** One model of a repository, as its folder says it. */
export interface RepositoryEntry {
  /** Its file's stem: the name requests use. */
  readonly name: string;
  /** The file, joined to the repository's path. */
  readonly file: string;
  /** A ready ONNX model, or a state_dict to convert. */
  readonly kind: 'onnx' | 'weights';
  /** From `<stem>.json`: a state_dict's architecture (else what its name implies, else resnet18). */
  readonly arch?: string;
  /** From `<stem>.json`: the precision to convert to (else `--precision`). */
  readonly precision?: Precision;
}

/**
 * The models found directly in `dir` (sub-folders and hidden files are not looked into), sorted by name: every
 * `*.pth`, `*.safetensors` and `*.onnx`, with what its `<stem>.json` says. Other files are left alone.
 *
 * @throws ResnetServeError INPUT_NOT_FOUND when `dir` cannot be read; INVALID_ARGUMENT when it holds no model, more
 *   than {@link MAX_REPOSITORY_MODELS}, two files of one stem, a name that cannot be a URL segment, or a malformed
 *   `<stem>.json`.
 */
export async function scanModelRepository(dir: string): Promise<RepositoryEntry[]> {
  const names = await readdir(dir).catch((cause: unknown) => {
    throw new ResnetServeError('INPUT_NOT_FOUND', `Cannot read the model repository ${dir}: give a folder of model files.`, { cause });
  });
  const files = new Map<string, string>();
  for (const fileName of names.sort()) {
    const extension = MODEL_FILE_EXTENSIONS.find((ext) => extname(fileName) === ext);
    // Hidden entries are a mounted volume's own (Kubernetes' `..data`), not models.
    if (extension === undefined || fileName.startsWith('.')) continue;
    const name = fileName.slice(0, -extension.length);
    const other = files.get(name);
    if (other !== undefined) {
      throw repositoryInvalid(dir, `${other} and ${fileName} would both be the model "${name}": keep one of them`, { model: name });
    }
    if (!MODEL_NAME.test(name)) {
      throw repositoryInvalid(dir, `"${name}" (${fileName}) cannot name a model: use letters, digits, '.', '_' and '-' (at most 128)`, {
        model: name,
      });
    }
    files.set(name, fileName);
  }
  if (files.size === 0) {
    throw repositoryInvalid(dir, `it holds no model: put *.pth, *.safetensors or *.onnx files directly in it`, {});
  }
  if (files.size > MAX_REPOSITORY_MODELS) {
    throw repositoryInvalid(dir, `it holds ${files.size} models, more than the ${MAX_REPOSITORY_MODELS} one server serves`, {});
  }
  const entries: RepositoryEntry[] = [];
  for (const [name, fileName] of files) {
    const file = join(dir, fileName);
    const info = await stat(file).catch((cause: unknown) => {
      throw new ResnetServeError('INPUT_NOT_FOUND', `Cannot read ${file} in the model repository.`, { cause });
    });
    if (!info.isFile()) throw repositoryInvalid(dir, `${fileName} is not a file`, { model: name });
    const kind = fileName.endsWith('.onnx') ? 'onnx' : 'weights';
    // An .onnx's sidecar is read (and checked) with its contract; a state_dict's says how to convert it.
    const sidecar = kind === 'weights' ? await readSidecar(file) : {};
    entries.push({
      name,
      file,
      kind,
      ...(sidecar.arch === undefined ? {} : { arch: sidecar.arch }),
      ...(sidecar.precision === undefined ? {} : { precision: sidecar.precision }),
    });
  }
  return entries;
}

function repositoryInvalid(dir: string, why: string, details: Record<string, string>): ResnetServeError {
  return new ResnetServeError('INVALID_ARGUMENT', `The model repository ${dir} cannot be served: ${why}.`, {
    details: { parameter: 'modelRepository', ...details },
  });
}
