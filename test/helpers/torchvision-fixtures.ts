import { execFile, spawnSync } from 'node:child_process';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { InferenceSession, Tensor } from 'onnxruntime-node';
import { expect } from 'vitest';
import { ARCHITECTURES } from '../../src/model/architectures/index.js';
import type { BuiltArchitecture } from '../../src/model/architectures/types.js';
import { encodeModel } from '../../src/model/onnx/proto.js';
import { readStateDict } from '../../src/weights/read.js';
import type { StateDict } from '../../src/weights/types.js';
import { fixtureInput } from './fixture-input.js';

/**
 * TorchVision reference fixtures made at run time by test/fixtures/make_arch_fixtures.py: the state_dicts are too
 * large to commit (convnext_large alone is 800 MB). The Python is `RESNET_SERVE_PYTHON` or the repository's
 * .cache/venv (which .ci/run makes, with torch and torchvision); without it the tests skip, and fail in CI.
 */
const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const SCRIPT = `${ROOT}test/fixtures/make_arch_fixtures_mobile.py`;
export const PYTHON = process.env.RESNET_SERVE_PYTHON ?? `${ROOT}.cache/venv/bin/python`;

/** Whether PYTHON exists and has torch and torchvision (found, not imported: importing them takes seconds). */
export const torchvisionAvailable: boolean =
  existsSync(PYTHON) &&
  spawnSync(PYTHON, ['-c', "import importlib.util as u, sys; sys.exit(not (u.find_spec('torch') and u.find_spec('torchvision')))"], {
    timeout: 60_000,
  }).status === 0;

export const MISSING_PYTHON = `${PYTHON} with torch and torchvision is missing: .ci/run must create it (or set RESNET_SERVE_PYTHON)`;

export interface ArchFixture {
  readonly arch: string;
  readonly parameters: number;
  readonly inputSize: number;
  readonly inputSums: number[];
  readonly logits: number[][];
  readonly probabilities: number[][];
  /** With `photos`: the DEFAULT weights' transforms() and each photo's outputs through them (PIL). */
  readonly transforms?: {
    resizeSize: number[];
    cropSize: number[];
    interpolation: string;
    antialias: boolean;
    mean: number[];
    std: number[];
  };
  readonly photos?: { file: string; logits: number[]; probabilities: number[] }[];
}

/** One architecture to make, at the input side the test runs it. */
export interface ArchCase {
  readonly arch: string;
  readonly size: number;
}

/**
 * Runs the script for `cases` into `dir` (test/.tmp/…); returns its wall time in seconds.
 * @param options.photos - also the photos through each architecture's DEFAULT weights' transforms().
 */
export async function makeArchFixtures(cases: readonly ArchCase[], dir: string, options: { photos?: boolean } = {}): Promise<number> {
  rmSync(dir, { recursive: true, force: true });
  const start = performance.now();
  const args = [
    SCRIPT,
    '--out',
    dir,
    ...(options.photos === true ? ['--photos'] : []),
    '--arch',
    ...cases.map((c) => `${c.arch}:${c.size}`),
  ];
  const { stdout } = await promisify(execFile)(PYTHON, args, { timeout: 1_800_000, maxBuffer: 1 << 20 });
  console.info(stdout.trim());
  return (performance.now() - start) / 1000;
}

export function readArchFixture(dir: string, arch: string): { fixture: ArchFixture; stateDict: StateDict } {
  const fixture = JSON.parse(readFileSync(`${dir}/${arch}.json`, 'utf8')) as ArchFixture;
  return { fixture, stateDict: readStateDict(new Uint8Array(readFileSync(`${dir}/${arch}.pth`))) };
}

export function buildArch(arch: string, stateDict: StateDict, inputSize: number): BuiltArchitecture {
  const architecture = ARCHITECTURES.get(arch);
  if (architecture === undefined) throw new Error(`no architecture ${arch}`);
  return architecture.build(stateDict, { inputSize });
}

export interface Agreement {
  /** Largest |ours − TorchVision| over all logits. */
  readonly maxAbs: number;
  /** Largest |ours − TorchVision| / max |TorchVision logit| of the row. */
  readonly maxRelative: number;
  readonly maxProbability: number;
}

/**
 * Runs `built` in ONNX Runtime on the fixture's inputs (one batch) and compares its logits with TorchVision's:
 * each within `relative` × the row's largest |logit|, each softmax probability within `probability`.
 */
export async function expectTorchVisionLogits(
  built: BuiltArchitecture,
  fixture: ArchFixture,
  tolerance: { relative: number; probability: number },
): Promise<Agreement> {
  const size = fixture.inputSize;
  const inputs = fixture.inputSums.map((_sum, k) => fixtureInput(k, size));
  inputs.forEach((input, k) => {
    // Summation order differs from numpy's pairwise sum: equal to float64 rounding, which proves the same tensor.
    expect(Math.abs(input.reduce((a, b) => a + b, 0) - (fixture.inputSums[k] as number))).toBeLessThan(1e-6 * input.length);
  });
  const batch = new Float32Array(inputs.length * inputs[0]!.length);
  for (const [k, input] of inputs.entries()) batch.set(input, k * input.length);
  const session = await InferenceSession.create(encodeModel(built.graph));
  try {
    const outputs = await session.run({ input: new Tensor('float32', batch, [inputs.length, 3, size, size]) });
    const logits = outputs.logits?.data as Float32Array;
    expect(outputs.logits?.dims).toEqual([inputs.length, built.classes]);
    let maxAbs = 0;
    let maxRelative = 0;
    let maxProbability = 0;
    fixture.logits.forEach((row, n) => {
      const ours = Array.from(logits.subarray(n * built.classes, (n + 1) * built.classes));
      const scale = Math.max(...row.map(Math.abs));
      const probabilities = softmax(ours);
      row.forEach((expected, j) => {
        const delta = Math.abs((ours[j] as number) - expected);
        maxAbs = Math.max(maxAbs, delta);
        maxRelative = Math.max(maxRelative, delta / scale);
        maxProbability = Math.max(maxProbability, Math.abs((probabilities[j] as number) - (fixture.probabilities[n]?.[j] as number)));
      });
    });
    expect(maxRelative, 'max |Δ logit| / max |logit|').toBeLessThanOrEqual(tolerance.relative);
    expect(maxProbability, 'max |Δ probability|').toBeLessThanOrEqual(tolerance.probability);
    return { maxAbs, maxRelative, maxProbability };
  } finally {
    await session.release();
  }
}

export function softmax(logits: readonly number[]): number[] {
  const max = Math.max(...logits);
  const exps = logits.map((v) => Math.exp(v - max));
  const sum = exps.reduce((a, b) => a + b, 0);
  return exps.map((e) => e / sum);
}
