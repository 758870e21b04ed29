/**
 * ONNX Runtime's telemetry stays off: a classification writes nothing under $HOME and prints nothing to stderr,
 * even where $HOME cannot be written (a container's read-only root), where ORT's uploader would print its
 * ANSI-coloured "Failed to persist telemetry device ID". ORT also turns its telemetry off by itself when it
 * sees a CI variable, so the command runs here without any.
 */
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { convertToOnnx } from '../../src/model/architectures/resnet.js';
import { CLI } from '../helpers/cli-process.js';
import { syntheticResNet18StateDict } from '../helpers/synthetic-weights.js';

const PHOTO = new URL('../fixtures/images/photo-500x375.jpg', import.meta.url).pathname;
/** The variables by which ORT 1.30 recognises a CI run (telemetry_environment.h), and its own switch. */
const ORT_READS = [
  'CI',
  'TF_BUILD',
  'GITHUB_ACTIONS',
  'GITLAB_CI',
  'CIRCLECI',
  'TRAVIS',
  'JENKINS_URL',
  'CODEBUILD_BUILD_ID',
  'BUILDKITE',
  'TEAMCITY_VERSION',
  'APPVEYOR',
  'BITBUCKET_BUILD_NUMBER',
  'SYSTEM_TEAMFOUNDATIONCOLLECTIONURI',
  'ORT_DISABLE_TELEMETRY',
];

let dir: string;
let model: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'resnet-serve-telemetry-'));
  model = join(dir, 'synthetic-resnet18.onnx');
  await writeFile(model, convertToOnnx(syntheticResNet18StateDict(11)));
  await writeFile(join(dir, 'a-file'), '');
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** `classify --json` in an empty working directory (ORT's uploader, failing to open its cache, makes `:memory:.ses` there). */
async function classify(home: string, cache: string): Promise<{ code: number; stdout: string; stderr: string; cwdAfter: string[] }> {
  const cwd = await mkdtemp(join(dir, 'cwd-'));
  const env = Object.fromEntries(Object.entries(process.env).filter(([key]) => !ORT_READS.includes(key)));
  const result = await new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
    execFile(
      process.execPath,
      [CLI, 'classify', '--json', '--model', model, PHOTO],
      { cwd, env: { ...env, HOME: home, RESNET_SERVE_HOME: cache }, timeout: 60_000 },
      (error, stdout, stderr) => resolve({ code: error === null ? 0 : Number(error.code ?? 1), stdout, stderr }),
    );
  });
  return { ...result, cwdAfter: await readdir(cwd) };
}

describe('ONNX Runtime telemetry', () => {
  test('a first classification (compiling the model, then the session thread) writes nothing under $HOME', async () => {
    const home = join(dir, 'home');
    await mkdir(home);
    const result = await classify(home, join(dir, 'cache-1'));
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(JSON.parse(result.stdout)).toHaveLength(1);
    // ORT's uploader would have made .cache/Microsoft/DeveloperTools/.onnxruntime/{deviceid,onnxruntime.db}.
    expect(await readdir(home, { recursive: true })).toEqual([]);
  });

  test('where $HOME cannot be written, stderr stays empty (no coloured ORT warning)', async () => {
    const result = await classify(join(dir, 'a-file', 'home'), join(dir, 'cache-2'));
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(result.cwdAfter).toEqual([]);
  });
});
