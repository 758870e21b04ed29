import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, readdir, rename, rm } from 'node:fs/promises';
import { cpus } from 'node:os';
import { basename, extname, join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { fileSystemFailed, onnxRuntimeFailed, ResnetServeError } from '../errors.js';
import { fileKey, isFile } from '../files/files.js';
import { onnxRuntimePath, onnxRuntimeVersion } from './inference-thread.js';

/** File names inside one compiled model's directory. */
const MODEL_FILE = 'model.onnx';
const WEIGHTS_FILE = 'model.onnx.data';

/**
 * Turns an `.onnx` file into the graph ONNX Runtime has already optimised for this CPU, cached in
 * `cacheDir/compiled/<name>-<path hash>-<key>/`: `model.onnx` holds the graph and `model.onnx.data` every
 * weight, which ORT writes page-aligned and, at load, maps into memory instead of reading. Loading it with
 * optimisation off skips the graph passes and every copy of the weights. Measured on the 46.7 MB ResNet-18
 * (bare session): load 23 ms and peak RSS 133 MB, against 300 ms / 218 MB optimising the `.onnx` at each
 * start and 75 ms / 135 MB for an ORT-format file used in place, whose unaligned weights also ran 8% slower
 * (17.4 vs 18.8 ms).
 *
 * The optimised graph contains NCHWc kernels whose block size depends on the CPU's vector width, so the cache
 * key includes the CPU model and the ONNX Runtime version as well as the source file's identity.
 *
 * @returns the path of the compiled `model.onnx`.
 * @throws ResnetServeError INPUT_NOT_FOUND when the file cannot be read; MODEL_INVALID when ORT cannot load it;
 *   FILESYSTEM_ERROR when the cache cannot be written.
 */
export async function compileForThisCpu(onnxPath: string, cacheDir: string): Promise<string> {
  const key = await fileKey(onnxPath, onnxRuntimeVersion(), process.arch, cpus()[0]?.model ?? '').catch((cause: unknown) => {
    throw new ResnetServeError('INPUT_NOT_FOUND', `The model file ${onnxPath} does not exist or cannot be read.`, { cause });
  });
  // One compiled form per source file: the file's name for people, a hash of its absolute path so that two
  // models with the same name in different folders do not replace each other's.
  const group = `${basename(onnxPath, extname(onnxPath))}-${createHash('sha256').update(resolve(onnxPath)).digest('hex').slice(0, 8)}`;
  const compiled = join(cacheDir, 'compiled');
  const target = join(compiled, `${group}-${key}`);
  if (await isFile(join(target, MODEL_FILE))) return join(target, MODEL_FILE);

  // Written in a directory of this process, then renamed whole: the graph and its weights appear together.
  const part = `${target}.${process.pid}.part`;
  try {
    await mkdir(part, { recursive: true }).catch((cause: unknown) => {
      throw fileSystemFailed(`Creating the compiled-model cache ${part}`, cause);
    });
    await optimizeInOwnProcess(onnxPath, join(part, MODEL_FILE));
    await rename(part, target).catch(async (cause: unknown) => {
      // Another process compiled the same key first: its files are the same, keep them.
      if (!(await isFile(join(target, MODEL_FILE)))) throw fileSystemFailed(`Moving the compiled model into ${target}`, cause);
    });
    await removeStale(compiled, group, basename(target)).catch((cause: unknown) => {
      throw fileSystemFailed(`Removing stale compiled models from ${compiled}`, cause);
    });
  } finally {
    await rm(part, { recursive: true, force: true });
  }
  return join(target, MODEL_FILE);
}

/**
 * ORT's optimiser holds the model several times over while it works, and glibc keeps much of that memory after
 * it is freed: run inside the server, a first start was 288 MB when ready instead of 174 (fp32, measured). A
 * short-lived process of its own gives all of it back. Plain CommonJS for `node -e`, so it runs the same from
 * `dist/` and from the TypeScript sources under vitest.
 */
const OPTIMIZE_SOURCE = `
const [ortPath, source, target, weightsFile] = process.argv.slice(1);
require(ortPath).InferenceSession.create(source, {
  executionProviders: ['cpu'],
  graphOptimizationLevel: 'all',
  optimizedModelFilePath: target,
  // ORT warns that such a file is hardware-specific; the cache key accounts for that.
  logSeverityLevel: 3,
  // onnxruntime-node prefixes these keys with "session.".
  extra: { session: { optimized_model_external_initializers_file_name: weightsFile, optimized_model_external_initializers_min_size_in_bytes: '0' } },
}).then((session) => session.release(), (error) => {
  // ORT rejects with an Error; its message is what the parent reports.
  process.stderr.write(String(error?.message ?? error));
  process.exitCode = 1;
});
`;

/** Longest a compilation may take: the 46.7 MB ResNet-18 takes under a second here. */
const OPTIMIZE_TIMEOUT_MS = 120_000;

async function optimizeInOwnProcess(source: string, target: string): Promise<void> {
  try {
    await promisify(execFile)(process.execPath, ['-e', OPTIMIZE_SOURCE, onnxRuntimePath(), source, target, WEIGHTS_FILE], {
      timeout: OPTIMIZE_TIMEOUT_MS,
      maxBuffer: 1024 * 1024,
    });
  } catch (error) {
    // execFile's own message repeats the whole command line, source included: say what happened instead.
    const { stderr, killed, code } = error as { stderr?: string; killed?: boolean; code?: number | string };
    const why =
      stderr?.trim() ||
      (killed === true
        ? `the compiling process was stopped after ${OPTIMIZE_TIMEOUT_MS} ms`
        : `the compiling process failed (${String(code)})`);
    throw onnxRuntimeFailed('load', why, source);
  }
}

/**
 * A changed source file leaves its old compiled form behind: keep one per source file, not one per version.
 * Files of the `.ort` format this cache held before, named `<name>-<key>.ort`, go too. A session that still
 * has old weights mapped keeps reading them: removing a file does not take it from a process that has it open.
 */
async function removeStale(dir: string, group: string, keep: string): Promise<void> {
  const legacyName = group.replace(/-[0-9a-f]{8}$/, '');
  const stale = (await readdir(dir)).filter((name) => {
    if (name === keep) return false;
    if (name.endsWith('.ort')) return name.slice(0, -'.ort'.length).replace(/-[0-9a-f]{16}$/, '') === legacyName;
    return name.replace(/-[0-9a-f]{16}$/, '') === group;
  });
  await Promise.all(stale.map((name) => rm(join(dir, name), { recursive: true, force: true })));
}
