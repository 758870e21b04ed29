/**
 * Bulk classification as deploy/kubernetes/classify-job.yaml runs it: the Job's container args and environment
 * for every completion index, on this machine (its volumes as folders), together write exactly the lines of one
 * unsharded run over the same folder — no file twice, none missing, the same answers; and a run killed midway
 * and started again with --resume ends with the same set.
 */
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { CLI, startCli } from '../helpers/cli-process.js';
import { byKind, containerEnv, dockerfileFacts, loadManifests } from '../helpers/manifests.js';
import { encodeSafetensors } from '../helpers/safetensors.js';
import { syntheticResNet18StateDict } from '../helpers/synthetic-weights.js';
import { noiseJpeg, noisePng, truncatedJpeg } from '../helpers/test-images.js';
import { waitFor } from '../helpers/wait.js';

const job = byKind(loadManifests('kubernetes'), 'Job');
const container = job.spec.template.spec.containers[0]!;
const image = dockerfileFacts();
const IMAGES = 60;

interface Line {
  file: string;
  predictions?: { index: number; probability: number }[];
  error?: string;
}

let dir: string;
let checkpoint: Buffer;
/** The Job's volume mounts, as folders here. */
const mounts = new Map<string, string>();
let reference: Map<string, Line>;

const local = (value: string): string => {
  for (const [path, folder] of mounts) if (value === path || value.startsWith(`${path}/`)) return folder + value.slice(path.length);
  return value;
};

/** Runs node with `argv` and `env` to its end. */
function run(argv: string[], env: Record<string, string>): Promise<{ code: number; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, argv, { env, timeout: 120_000 }, (error, _stdout, stderr) => {
      resolve({ code: error === null ? 0 : typeof error.code === 'number' ? error.code : 1, stderr });
    });
  });
}

async function readLines(path: string): Promise<Line[]> {
  return (await readFile(path, 'utf8'))
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => JSON.parse(line) as Line);
}

/**
 * A pod's cache folder and the weights it classifies with. A pod downloads TorchVision's file; here the synthetic
 * checkpoint stands in, under a name of its own (under TorchVision's name its hash would refuse it).
 */
async function seededCache(name: string): Promise<{ RESNET_SERVE_HOME: string; RESNET_SERVE_WEIGHTS: string }> {
  const home = join(dir, name);
  await mkdir(home, { recursive: true });
  const weights = join(home, 'synthetic-resnet18.safetensors');
  await writeFile(weights, checkpoint);
  return { RESNET_SERVE_HOME: home, RESNET_SERVE_WEIGHTS: weights };
}

function expectSameLines(lines: Line[]): void {
  const files = lines.map((line) => line.file);
  expect(new Set(files).size, 'a file written twice').toBe(files.length);
  expect(new Set(files)).toEqual(new Set(reference.keys()));
  for (const line of lines) {
    const expected = reference.get(line.file)!;
    expect(line.error).toBe(expected.error);
    expect(line.predictions?.map((p) => p.index)).toEqual(expected.predictions?.map((p) => p.index));
    // Other batch compositions than the reference run's: ORT may block its GEMMs differently.
    for (const [i, p] of (line.predictions ?? []).entries())
      expect(Math.abs(p.probability - expected.predictions![i]!.probability)).toBeLessThan(1e-5);
  }
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'resnet-serve-job-'));
  checkpoint = encodeSafetensors(syntheticResNet18StateDict(31337));
  for (const mount of container.volumeMounts ?? []) mounts.set(mount.mountPath, join(dir, mount.name));
  // The photos: nested folders, mixed formats, files that are not images (skipped) and one corrupt JPEG (an error line).
  const photos = local('/data/photos');
  for (let i = 0; i < IMAGES; i++) {
    const folder = join(photos, `set-${i % 3}`, i % 2 === 0 ? 'even' : '');
    await mkdir(folder, { recursive: true });
    await writeFile(
      join(folder, `img-${i}.${i % 4 === 0 ? 'png' : 'jpg'}`),
      i % 4 === 0 ? await noisePng(i, 80, 60) : await noiseJpeg(i, 96, 72),
    );
  }
  await writeFile(join(photos, 'notes.txt'), 'not an image');
  await writeFile(join(photos, 'set-1', 'named-like.jpg'), 'text with an image name');
  await writeFile(join(photos, 'set-2', 'empty.png'), '');
  await writeFile(join(photos, 'set-2', 'cut.jpg'), await truncatedJpeg(0.4));

  const out = join(dir, 'reference.jsonl');
  const { code, stderr } = await run([CLI, 'classify', '--jsonl', out, photos], {
    PATH: process.env.PATH ?? '',
    ...(await seededCache('reference-cache')),
  });
  expect(code, stderr).toBe(1);
  reference = new Map((await readLines(out)).map((line) => [line.file, line]));
  expect(reference.size).toBe(IMAGES + 1);
  expect(reference.get(join(photos, 'set-2', 'cut.jpg'))?.error).toBeDefined();
}, 120_000);

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('deploy/kubernetes/classify-job.yaml', () => {
  test('is an Indexed Job whose --shard N is its number of completions', () => {
    expect(job.spec.completionMode).toBe('Indexed');
    const args = container.args ?? [];
    expect(args[0]).toBe('classify');
    expect(args[args.indexOf('--shard') + 1]).toBe(String(job.spec.completions));
    expect(job.spec.parallelism).toBeLessThanOrEqual(job.spec.completions);
    expect(args).toContain('--resume');
  });

  test('its pods, one per completion index, together write exactly the lines of one unsharded run', async () => {
    const [node, ...nodeArgs] = image.entrypoint;
    expect(node).toBe('node');
    const runs = Array.from({ length: job.spec.completions }, async (_, index) => {
      // What the kubelet does: the Job's index in the environment and in place of $(JOB_COMPLETION_INDEX).
      const env: Record<string, string> = { PATH: process.env.PATH ?? '' };
      for (const [name, value] of Object.entries({ ...image.env, ...containerEnv(container), JOB_COMPLETION_INDEX: String(index) }))
        env[name] = local(value);
      Object.assign(env, await seededCache(`cache-${index}`));
      const args = (container.args ?? []).map((a) => local(a.replaceAll('$(JOB_COMPLETION_INDEX)', String(index))));
      return run([...nodeArgs.map((a) => (a === 'dist/cli.js' ? CLI : a)), ...args], env);
    });
    const codes = (await Promise.all(runs)).map((r) => r.code);
    // Exit 1 only for the shard that holds the corrupt JPEG.
    expect(codes.filter((code) => code === 1)).toHaveLength(1);
    expect(codes.filter((code) => code === 0)).toHaveLength(job.spec.completions - 1);
    const lines: Line[] = [];
    for (let index = 0; index < job.spec.completions; index++) lines.push(...(await readLines(local(`/data/out/part-${index}.jsonl`))));
    expectSameLines(lines);
  }, 120_000);

  test('a run killed midway and started again with --resume ends with the same set, nothing twice', async () => {
    const out = join(dir, 'resumed.jsonl');
    const env = { PATH: process.env.PATH ?? '', ...(await seededCache('resume-cache')) };
    // One image at a time on one thread, so that the run is still going when it is killed.
    const argv = [CLI, 'classify', '--resume', '--jsonl', out, '--max-batch', '1', '--threads', '1', local('/data/photos')];
    const first = startCli(argv, env);
    await waitFor('a few lines', async () => (await readFile(out, 'utf8').catch(() => '')).split('\n').length > 5, 60_000, 2);
    first.child.kill('SIGKILL');
    await first.exited;
    const before = await readLines(out);
    expect(before.length).toBeLessThan(reference.size);

    const { code } = await run(argv, env);
    expect(code).toBe(1);
    const after = await readLines(out);
    expect(after.slice(0, before.length)).toEqual(before);
    expectSameLines(after);
  }, 120_000);
});
