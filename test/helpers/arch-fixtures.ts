import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { InferenceSession, Tensor } from 'onnxruntime-node';
import { expect } from 'vitest';
import { softmax } from '../../src/labels/postprocess.js';
import { architectureOf } from '../../src/model/architectures/index.js';
import type { BuiltArchitecture } from '../../src/model/architectures/types.js';
import { encodeModel } from '../../src/model/onnx/proto.js';
import { readStateDict } from '../../src/weights/read.js';
import { readSafetensors } from '../../src/weights/safetensors.js';
import type { StateDict } from '../../src/weights/types.js';
import { REFERENCE_PYTHON, ROOT, runReferencePython } from './reference-python.js';

/**
 * TorchVision reference fixtures made at run time by test/fixtures/make_arch_fixtures.py, for every family: the
 * state_dicts are too large to commit (convnext_large alone is 800 MB). Without the reference Python
 * (reference-python.ts) the tests skip, and fail in CI.
 */

/** One architecture written by test/fixtures/make_arch_fixtures.py (its JSON line). */
export interface ArchFixture {
  readonly name: string;
  /** State_dict keys and shapes in TorchVision's order (num_batches_tracked included). */
  readonly keys: readonly (readonly [string, readonly number[]])[];
  /** Absent for `ARCH:meta` entries, which write no file. */
  readonly stateDict?: string;
  readonly reference?: string;
  readonly size?: number;
  readonly parameters?: number;
  /** Files of test/fixtures/images whose `photo_*` outputs the reference holds (in this order), with --photos. */
  readonly photos?: readonly string[];
  /** The DEFAULT weights' `transforms()`, as the photos went through them on PIL. */
  readonly transforms?: {
    readonly resizeSize: readonly number[];
    readonly cropSize: readonly number[];
    readonly interpolation: string;
    readonly antialias: boolean;
    readonly mean: readonly number[];
    readonly std: readonly number[];
  };
  readonly seconds?: number;
  readonly cpuSeconds?: number;
}

const SCRIPT = 'test/fixtures/make_arch_fixtures.py';

/**
 * Runs make_arch_fixtures.py `weights --paced` over `specs` (`name` or `name:size` or `name:meta`) into `dir`, one
 * architecture at a time: asking for the i-th lets the script write it, and `release(i)` (after the state_dict has
 * been read and deleted) lets it write the next while the test runs this one, so at most two are on disk.
 * The caller owns the process: `close()` ends it.
 */
export class ArchFixtureStream {
  readonly #specs: readonly string[];
  readonly #dir: string;
  readonly #child: ChildProcessWithoutNullStreams;
  readonly #done = new Map<string, ArchFixture>();
  readonly #waiting = new Map<string, (fixture: ArchFixture) => void>();
  #failure: Error | undefined;
  #onFailure: ((error: Error) => void)[] = [];
  #asked = 0;
  #stderr = '';

  constructor(dir: string, specs: readonly string[], options: { photos?: boolean } = {}) {
    if (REFERENCE_PYTHON === undefined) throw new Error('No reference Python: see test/helpers/reference-python.ts');
    this.#specs = specs;
    this.#dir = dir;
    const args = [SCRIPT, 'weights', '--paced', '--out', dir, ...(options.photos === true ? ['--photos'] : []), ...specs];
    this.#child = spawn(REFERENCE_PYTHON, args, { cwd: ROOT, stdio: ['pipe', 'pipe', 'pipe'] });
    this.#child.stderr.on('data', (chunk: Buffer) => {
      this.#stderr = (this.#stderr + chunk.toString('utf8')).slice(-20_000);
    });
    createInterface({ input: this.#child.stdout }).on('line', (line) => {
      for (const [name, entry] of Object.entries(JSON.parse(line) as Record<string, Omit<ArchFixture, 'name'>>)) {
        const fixture = { ...entry, name };
        this.#done.set(name, fixture);
        this.#waiting.get(name)?.(fixture);
      }
    });
    this.#child.on('error', (error) => this.#fail(error));
    this.#child.on('exit', (code, signal) => {
      if (code !== 0) this.#fail(new Error(`${SCRIPT} exited with ${code ?? signal}:\n${this.#stderr}`));
      else this.#fail(new Error(`${SCRIPT} ended before writing every architecture`));
    });
  }

  /** The fixture of `name`, once written; its files are in {@link path}. */
  get(name: string): Promise<ArchFixture> {
    this.#askUpTo(this.#specs.findIndex((spec) => spec === name || spec.startsWith(`${name}:`)));
    const done = this.#done.get(name);
    if (done !== undefined) return Promise.resolve(done);
    if (this.#failure !== undefined) return Promise.reject(this.#failure);
    return new Promise((resolve, reject) => {
      this.#waiting.set(name, resolve);
      this.#onFailure.push(reject);
    });
  }

  /** Lets the script write the architecture after `name`. */
  release(name: string): void {
    this.#askUpTo(this.#specs.findIndex((spec) => spec === name || spec.startsWith(`${name}:`)) + 1);
  }

  path(file: string): string {
    return join(this.#dir, file);
  }

  close(): void {
    this.#child.stdin.end();
    if (this.#child.exitCode === null) this.#child.kill();
  }

  /** The script reads one line before each architecture after the first. */
  #askUpTo(index: number): void {
    while (this.#asked < index && this.#child.stdin.writable) {
      this.#child.stdin.write('\n');
      this.#asked++;
    }
  }

  #fail(error: Error): void {
    if (this.#done.size === this.#specs.length) return;
    this.#failure ??= error;
    for (const reject of this.#onFailure) reject(this.#failure);
    this.#onFailure = [];
  }
}

/** One architecture to make, at the input side the test runs it. */
export interface ArchCase {
  readonly arch: string;
  readonly size: number;
}

/**
 * Runs make_arch_fixtures.py for all `cases` at once into `dir` (emptied first; test/.tmp/…); returns its wall time
 * in seconds. For many large ones, {@link ArchFixtureStream} keeps the disk bounded instead.
 * @param options.photos - also the photos through each architecture's DEFAULT weights' transforms().
 * @param options.gradCam - also PyTorch's Grad-CAM of each input's top classes (`gradcam_classes`, `gradcam`).
 */
export async function makeArchFixtures(
  cases: readonly ArchCase[],
  dir: string,
  options: { photos?: boolean; gradCam?: boolean } = {},
): Promise<number> {
  rmSync(dir, { recursive: true, force: true });
  const start = performance.now();
  const args = [
    'weights',
    '--out',
    dir,
    ...(options.photos === true ? ['--photos'] : []),
    ...(options.gradCam === true ? ['--grad-cam'] : []),
  ];
  await runReferencePython(SCRIPT, [...args, ...cases.map((c) => `${c.arch}:${c.size}`)], 1_800_000);
  return (performance.now() - start) / 1000;
}

/** An architecture's fixture as {@link makeArchFixtures} left it: its manifest entry, state_dict and reference. */
export interface LoadedArchFixture {
  readonly fixture: ArchFixture;
  readonly stateDict: StateDict;
  /**
   * `inputs`, `features`, `logits`, `probabilities`; with photos, `photo_inputs`, `photo_logits`,
   * `photo_probabilities`; with gradCam, `gradcam_classes` (int32) and `gradcam`.
   */
  readonly reference: StateDict;
}

export function readArchFixture(dir: string, arch: string): LoadedArchFixture {
  const manifest = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')) as {
    architectures: Record<string, Omit<ArchFixture, 'name'>>;
  };
  const entry = manifest.architectures[arch];
  if (entry?.stateDict === undefined || entry.reference === undefined) throw new Error(`${dir}/manifest.json has no ${arch}`);
  return {
    fixture: { ...entry, name: arch },
    stateDict: readStateDict(new Uint8Array(readFileSync(join(dir, entry.stateDict)))),
    reference: readSafetensors(new Uint8Array(readFileSync(join(dir, entry.reference)))),
  };
}

/** A float32 tensor of a reference file, with its shape. */
export function referenceTensor(reference: StateDict, key: string): { data: Float32Array; dims: readonly number[] } {
  const value = reference.get(key);
  if (value === undefined || !(value.data instanceof Float32Array)) throw new Error(`the reference has no float32 tensor ${key}`);
  return { data: value.data, dims: value.shape };
}

export function buildArch(arch: string, stateDict: StateDict, inputSize: number): BuiltArchitecture {
  return architectureOf(arch).build(stateDict, { inputSize });
}

export interface Agreement {
  /** Largest |ours − TorchVision| over all logits. */
  readonly maxAbs: number;
  /** Largest |ours − TorchVision| / max |TorchVision logit| of the row. */
  readonly maxRelative: number;
  readonly maxProbability: number;
}

/**
 * Runs `built` in ONNX Runtime on the reference `inputs` (one batch) and compares its logits with TorchVision's:
 * each within `relative` × the row's largest |logit|, each softmax probability within `probability`.
 */
export async function expectTorchVisionLogits(
  built: BuiltArchitecture,
  { reference }: Pick<LoadedArchFixture, 'reference'>,
  tolerance: { relative: number; probability: number },
): Promise<Agreement> {
  const inputs = referenceTensor(reference, 'inputs');
  const expected = referenceTensor(reference, 'logits').data;
  const expectedProbabilities = referenceTensor(reference, 'probabilities').data;
  const session = await InferenceSession.create(encodeModel(built.graph));
  try {
    const outputs = await session.run({ input: new Tensor('float32', inputs.data, [...inputs.dims]) });
    const logits = outputs.logits?.data as Float32Array;
    const width = built.classes;
    expect(outputs.logits?.dims).toEqual([inputs.dims[0], width]);
    let maxAbs = 0;
    let maxRelative = 0;
    let maxProbability = 0;
    for (let offset = 0; offset < expected.length; offset += width) {
      const row = expected.subarray(offset, offset + width);
      const scale = row.reduce((a, v) => Math.max(a, Math.abs(v)), 0);
      const probabilities = softmax(logits, offset, width);
      for (let j = 0; j < width; j++) {
        const delta = Math.abs((logits[offset + j] as number) - (row[j] as number));
        maxAbs = Math.max(maxAbs, delta);
        maxRelative = Math.max(maxRelative, delta / scale);
        maxProbability = Math.max(maxProbability, Math.abs((probabilities[j] as number) - (expectedProbabilities[offset + j] as number)));
      }
    }
    expect(maxRelative, 'max |Δ logit| / max |logit|').toBeLessThanOrEqual(tolerance.relative);
    expect(maxProbability, 'max |Δ probability|').toBeLessThanOrEqual(tolerance.probability);
    return { maxAbs, maxRelative, maxProbability };
  } finally {
    await session.release();
  }
}
