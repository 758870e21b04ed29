import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

/**
 * The Python with PyTorch, TorchVision and safetensors that makes reference fixtures at run time: `.cache/venv`
 * of the repository, which .ci/run creates, or the interpreter `RESNET_SERVE_PYTHON` names.
 * Undefined when neither exists: tests that need it skip on a developer's machine and fail in CI.
 */
export const REFERENCE_PYTHON: string | undefined = (() => {
  const candidate = process.env.RESNET_SERVE_PYTHON ?? fileURLToPath(new URL('../../.cache/venv/bin/python', import.meta.url));
  return existsSync(candidate) ? candidate : undefined;
})();

export const IN_CI = process.env.CI === 'true';

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));

const run = promisify(execFile);

/**
 * Runs a script of the repository with {@link REFERENCE_PYTHON}, bounded in time and output.
 * @returns its standard output.
 */
export async function runReferencePython(script: string, args: readonly string[], timeoutMs: number): Promise<string> {
  if (REFERENCE_PYTHON === undefined) throw new Error('No reference Python: see test/helpers/reference-python.ts');
  const { stdout } = await run(REFERENCE_PYTHON, [script, ...args], {
    cwd: ROOT,
    encoding: 'utf8',
    timeout: timeoutMs,
    maxBuffer: 64 * 1024 * 1024,
  });
  return stdout;
}
