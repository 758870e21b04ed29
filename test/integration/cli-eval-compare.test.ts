/**
 * `resnet-serve eval DIR --compare W.pth` / `--compare-arch NAME` with two architectures (issue #17), as a user runs
 * it (dist/cli.js): a ResNet-18 and a MobileNetV3-Small, TorchVision's builders with seeded random weights made at
 * run time by PyTorch (test/fixtures/make_arch_fixtures.py). What eval reports is checked against figures this test
 * computes itself from `classify --top 5 --json`'s per-image answers, never against eval's own output: each model's
 * top-1/top-5 counts and Wilson intervals, their top-1 agreement and the list of images where they differ. Each
 * model's accuracy also equals what `eval` on that model alone reports; a model compared with itself agrees on every
 * image, and one that agrees on some images only gets the agreement its answers give; a compared model that cannot
 * be used fails the run with its stable code.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFileSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeArchFixtures, readArchFixture } from '../helpers/arch-fixtures.js';
import { CLI } from '../helpers/cli-process.js';
import { IN_CI, REFERENCE_PYTHON } from '../helpers/reference-python.js';
import { encodeSafetensors } from '../helpers/safetensors.js';

const DIR = fileURLToPath(new URL('../.tmp/cli-eval-compare/', import.meta.url));
const HOME = join(DIR, 'home');
const WEIGHTS = join(DIR, 'weights');
const SET = join(DIR, 'labelled');
const IMAGES = fileURLToPath(new URL('../fixtures/images/', import.meta.url));
const SHAPES = fileURLToPath(new URL('../fixtures/int8/shapes-resnet18.safetensors', import.meta.url));
/** Two families with the same 1000 classes, small enough to make and convert in seconds. */
const CASES = [
  { arch: 'resnet18', size: 224 },
  { arch: 'mobilenet_v3_small', size: 224 },
] as const;
/** Photos every decoder path reads (PNG, JPEG, TIFF, WebP, palette, grey, CMYK, alpha), none cut short. */
const PHOTOS = [
  'photo-160x140.tiff',
  'tiny-150x100.png',
  'alpha-260x230.png',
  'photo-500x375.jpg',
  'portrait-301x477.jpg',
  'landscape-475x300.jpg',
  'gray-320x240.jpg',
  'palette-300x260.png',
  'photo-320x256.webp',
  'cmyk-300x240.jpg',
  'large-1400x1050.jpg',
  'rgb16-96x80.png',
];
const TOP = 5;
const CLASSES = 1000;
/** Φ⁻¹(0.975), for the Wilson score interval computed here. */
const Z = 1.959964;

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

interface Rate {
  correct: number;
  total: number;
  rate: number;
  ci95: [number, number];
}

interface Accuracy {
  images: number;
  top1: Rate;
  top5: Rate;
}

interface Predicted {
  index: number;
  probability: number;
}

/** One architecture's fixture and what `classify --top 5 --json` answered for each of PHOTOS, in order. */
interface Classified {
  weights: string;
  id: string;
  answers: Predicted[][];
  top5: number[][];
}

interface Report {
  layout: string;
  files: number;
  evaluated: number;
  unreadable: unknown[];
  models: { name: string; accuracy: Accuracy }[];
  comparison?: { agreement: Rate; disagreements: { path: string; label: number; predicted: number[] }[] };
}

function cli(args: string[]): Promise<Run> {
  return new Promise((resolve) => {
    const env = { ...process.env, RESNET_SERVE_HOME: HOME };
    execFile(process.execPath, [CLI, ...args], { env, timeout: 180_000, maxBuffer: 1 << 24 }, (error, stdout, stderr) => {
      resolve({ code: error === null ? 0 : typeof error.code === 'number' ? error.code : 1, stdout, stderr });
    });
  });
}

async function evalJson(args: string[]): Promise<Report> {
  const { code, stdout, stderr } = await cli(['eval', ...args, '--json', SET]);
  expect(code, stderr).toBe(0);
  return JSON.parse(stdout) as Report;
}

/** The Wilson score interval, written out here rather than taken from src/eval/accuracy.ts. */
function wilson(correct: number, total: number): [number, number] {
  const p = correct / total;
  const z2 = Z * Z;
  const centre = (p + z2 / (2 * total)) / (1 + z2 / total);
  const half = (Z * Math.sqrt((p * (1 - p)) / total + z2 / (4 * total * total))) / (1 + z2 / total);
  return [correct === 0 ? 0 : centre - half, correct === total ? 1 : centre + half];
}

function expectRate(actual: Rate | undefined, correct: number, total: number, what: string): void {
  expect(actual, what).toMatchObject({ correct, total });
  expect(actual?.rate, what).toBeCloseTo(correct / total, 12);
  const [low, high] = wilson(correct, total);
  expect(actual?.ci95[0], `${what} low`).toBeCloseTo(low, 9);
  expect(actual?.ci95[1], `${what} high`).toBeCloseTo(high, 9);
}

/** `12.34% [5.67%, 89.01%]` of the text report, as fractions. */
function parseInterval(text: string): number[] {
  const match = /^([\d.]+)% \[([\d.]+)%, ([\d.]+)%\]$/.exec(text.trim());
  if (match === null) throw new Error(`not a rate with its interval: ${text}`);
  return match.slice(1).map((v) => Number(v) / 100);
}

describe.skipIf(REFERENCE_PYTHON === undefined && !IN_CI)('eval --compare with two architectures', () => {
  /** Per architecture: its weights file and model id, and classify’s top-5 answers per photo (PHOTOS’ order). */
  const models = new Map<string, Classified>();
  /** The labelled set as made here: each photo's path in SET and its label. */
  const labelled: { path: string; label: number }[] = [];
  const [A, B] = CASES.map((c) => c.arch) as [string, string];
  const model = (arch: string): Classified => {
    const found = models.get(arch);
    if (found === undefined) throw new Error(`no ${arch}`);
    return found;
  };
  /** What each model should score on the set, counted from classify's answers. */
  const expected = (arch: string): { top1: number; top5: number } => {
    const { top5 } = model(arch);
    return {
      top1: labelled.filter((image, i) => top5[i]?.[0] === image.label).length,
      top5: labelled.filter((image, i) => top5[i]?.includes(image.label)).length,
    };
  };

  beforeAll(async () => {
    const seconds = await makeArchFixtures(CASES, DIR);
    console.info(`make_arch_fixtures.py ${CASES.map((c) => c.arch).join(' ')}: ${seconds.toFixed(1)} s`);
    // Each in a folder of its own, under its architecture's name (which implies the architecture).
    mkdirSync(WEIGHTS, { recursive: true });
    for (const { arch } of CASES) {
      const weights = join(WEIGHTS, `${arch}.pth`);
      copyFileSync(join(DIR, readArchFixture(DIR, arch).fixture.stateDict ?? `${arch}.pth`), weights);
      const id = `${arch}-${createHash('sha256').update(readFileSync(weights)).digest('hex').slice(0, 8)}`;
      const files = PHOTOS.map((photo) => join(IMAGES, photo));
      const { code, stdout, stderr } = await cli(['classify', '--weights', weights, '--top', String(TOP), '--json', ...files]);
      expect(code, stderr).toBe(0);
      const answers = JSON.parse(stdout) as { file: string; model: string; predictions: Predicted[] }[];
      expect(answers.map((a) => a.file)).toEqual(files);
      for (const answer of answers) expect(answer.model).toBe(id);
      models.set(arch, {
        weights,
        id,
        answers: answers.map((a) => a.predictions),
        top5: answers.map((a) => a.predictions.map((p) => p.index)),
      });
    }
    // Labels chosen from the two models' answers so that each scores something, differently, at top-1 and top-5:
    // A's first class, B's first, A's third, B's fifth, A's first again and a class in neither's top 5, in turn.
    const a = model(A).top5;
    const b = model(B).top5;
    PHOTOS.forEach((photo, i) => {
      const mine = a[i] ?? [];
      const theirs = b[i] ?? [];
      const pick = [mine[0], theirs[0], mine[2], theirs[4], mine[0]][i % 6];
      const label = pick ?? Array.from({ length: CLASSES }, (_, c) => c).find((c) => !mine.includes(c) && !theirs.includes(c));
      if (label === undefined) throw new Error('no label');
      const folder = join(SET, String(label));
      mkdirSync(folder, { recursive: true });
      const path = join(folder, photo);
      copyFileSync(join(IMAGES, photo), path);
      labelled.push({ path, label });
    });
    // The figures must be able to tell the two models, and a wrong count, apart.
    const [ea, eb] = [expected(A), expected(B)];
    expect(ea.top1).toBeGreaterThan(0);
    expect(eb.top1).toBeGreaterThan(0);
    expect(ea.top5).toBeGreaterThan(ea.top1);
    expect(eb.top5).toBeGreaterThan(eb.top1);
    expect(ea.top5).toBeLessThan(PHOTOS.length);
    expect([ea.top1, ea.top5]).not.toEqual([eb.top1, eb.top5]);
    const agreed = PHOTOS.filter((_, i) => a[i]?.[0] === b[i]?.[0]).length;
    console.info(`of ${PHOTOS.length}: ${A} top-1 ${ea.top1}, top-5 ${ea.top5}; ${B} top-1 ${eb.top1}, top-5 ${eb.top5}; agree ${agreed}`);
  }, 600_000);
  afterAll(() => rmSync(DIR, { recursive: true, force: true }));

  it('--json: both models by id, each one’s accuracy as classify’s answers give it, their agreement and differences', async () => {
    const report = await evalJson(['--weights', model(A).weights, '--compare', model(B).weights]);
    const n = PHOTOS.length;
    expect(report).toMatchObject({ layout: 'index-folders', files: n, evaluated: n, unreadable: [] });
    expect(report.models.map((m) => m.name)).toEqual([`${model(A).id} fp32`, `${model(B).id} fp32`]);
    for (const [i, arch] of [A, B].entries()) {
      const accuracy = report.models[i]?.accuracy;
      expect(accuracy?.images, arch).toBe(n);
      expectRate(accuracy?.top1, expected(arch).top1, n, `${arch} top-1`);
      expectRate(accuracy?.top5, expected(arch).top5, n, `${arch} top-5`);
    }
    // Top-1 agreement, and the images where the two first classes differ, from the two classify runs.
    const firstA = model(A).top5.map((t) => t[0]);
    const firstB = model(B).top5.map((t) => t[0]);
    const agreed = PHOTOS.filter((_, i) => firstA[i] === firstB[i]).length;
    expectRate(report.comparison?.agreement, agreed, n, 'agreement');
    const differ = labelled
      .map((image, i) => ({ path: image.path, label: image.label, predicted: [firstA[i], firstB[i]] }))
      .filter((d) => d.predicted[0] !== d.predicted[1]);
    const byPath = (x: { path: string }, y: { path: string }): number => x.path.localeCompare(y.path);
    expect([...(report.comparison?.disagreements ?? [])].sort(byPath)).toEqual(differ.sort(byPath));
  });

  it('each model’s accuracy in the comparison is what eval of that model alone reports', async () => {
    const compared = await evalJson(['--weights', model(A).weights, '--compare', model(B).weights]);
    for (const [i, arch] of [A, B].entries()) {
      const alone = await evalJson(['--weights', model(arch).weights]);
      expect(alone.comparison, arch).toBeUndefined();
      expect(alone.models.map((m) => m.name)).toEqual([`${model(arch).id} fp32`]);
      // Counts, rates, intervals and most-confused pairs alike.
      expect(compared.models[i]?.accuracy, arch).toEqual(alone.models[0]?.accuracy);
      expect(alone.models[0]?.accuracy.top1.correct, arch).toBe(expected(arch).top1);
      expect(alone.models[0]?.accuracy.top5.correct, arch).toBe(expected(arch).top5);
    }
  });

  it('a model compared with itself agrees on every image, the second named “(2)”', async () => {
    const report = await evalJson(['--weights', model(B).weights, '--compare', model(B).weights]);
    const name = `${model(B).id} fp32`;
    expect(report.models.map((m) => m.name)).toEqual([name, `${name} (2)`]);
    expect(report.models[1]?.accuracy).toEqual(report.models[0]?.accuracy);
    expectRate(report.models[0]?.accuracy.top1, expected(B).top1, PHOTOS.length, 'top-1');
    expectRate(report.comparison?.agreement, PHOTOS.length, PHOTOS.length, 'agreement');
    expect(report.comparison?.disagreements).toEqual([]);
  });

  it('--compare-arch names the architecture of weights whose name implies none; the text report has the same figures', async () => {
    // The same bytes as B's fixture under a name that says nothing: without --compare-arch it would be read as resnet18.
    const unnamed = join(DIR, 'unnamed', 'small.pth');
    mkdirSync(join(DIR, 'unnamed'), { recursive: true });
    copyFileSync(model(B).weights, unnamed);
    const { code, stdout, stderr } = await cli(['eval', '--weights', model(A).weights, '--compare', unnamed, '--compare-arch', B, SET]);
    expect(code, stderr).toBe(0);
    const n = PHOTOS.length;
    expect(stdout).toContain(`${n} images evaluated (index-folders)`);
    const names = [`${model(A).id} fp32`, `${model(B).id} fp32`];
    for (const [i, arch] of [A, B].entries()) {
      const line = stdout.split('\n').find((l) => l.startsWith(`${names[i]} `));
      expect(line, `${arch}'s row in\n${stdout}`).toBeDefined();
      // `name  top-1 [low, high]  top-5 [low, high]`, the columns two or more spaces apart.
      const [, top1, top5] = (line ?? '').split(/ {2,}/);
      const shown = [...parseInterval(top1 ?? ''), ...parseInterval(top5 ?? '')];
      const { top1: c1, top5: c5 } = expected(arch);
      const want = [c1 / n, ...wilson(c1, n), c5 / n, ...wilson(c5, n)];
      shown.forEach((v, j) => {
        expect(Math.abs(v - (want[j] as number)), `${arch} column ${j}: ${line}`).toBeLessThanOrEqual(0.00005 + 1e-12);
      });
    }
    const firstA = model(A).top5.map((t) => t[0]);
    const firstB = model(B).top5.map((t) => t[0]);
    const agreed = PHOTOS.filter((_, i) => firstA[i] === firstB[i]).length;
    const agreement = new RegExp(`^top-1 agreement ${names[0]} / ${names[1]}: (.+), (\\d+) images? differs?$`, 'm').exec(stdout);
    expect(agreement, stdout).not.toBeNull();
    const [rate = 0, low = 0, high = 0] = parseInterval(agreement?.[1] ?? '');
    expect(Math.abs(rate - agreed / n)).toBeLessThanOrEqual(0.00005 + 1e-12);
    expect(Math.abs(low - wilson(agreed, n)[0])).toBeLessThanOrEqual(0.00005 + 1e-12);
    expect(Math.abs(high - wilson(agreed, n)[1])).toBeLessThanOrEqual(0.00005 + 1e-12);
    expect(Number(agreement?.[2])).toBe(n - agreed);
  });

  it('models that agree on some images only: agreement and differences as their classify answers give them', async () => {
    // A's own weights with one class favoured: A's second class on the first photo is raised just past its first
    // (by their log-odds and a little more), so that photo, and any other where that class was as close, changes
    // its answer while the others keep theirs.
    const { stateDict } = readArchFixture(DIR, A);
    const bias = stateDict.get('fc.bias');
    if (bias === undefined || !(bias.data instanceof Float32Array)) throw new Error('no fc.bias');
    const [first, second] = model(A).answers[0] ?? [];
    if (first === undefined || second === undefined) throw new Error('no answer for the first photo');
    const raised = new Float32Array(bias.data);
    raised[second.index] = (raised[second.index] as number) + Math.log(first.probability / second.probability) + 0.5;
    stateDict.set('fc.bias', { ...bias, data: raised });
    const tuned = join(DIR, 'tuned', 'tuned.safetensors');
    mkdirSync(join(DIR, 'tuned'), { recursive: true });
    writeFileSync(tuned, encodeSafetensors(stateDict));
    const files = labelled.map((image) => image.path);
    const classified = await cli(['classify', '--arch', A, '--weights', tuned, '--top', '1', '--json', ...files]);
    expect(classified.code, classified.stderr).toBe(0);
    const tunedFirst = (JSON.parse(classified.stdout) as { predictions: { index: number }[] }[]).map((a) => a.predictions[0]?.index);
    const firstA = model(A).top5.map((t) => t[0]);
    const agreed = labelled.filter((_, i) => firstA[i] === tunedFirst[i]).length;
    // Neither all nor none: the figure has to be counted, not be a constant.
    expect(tunedFirst[0]).toBe(second.index);
    expect(agreed).toBeGreaterThan(0);
    expect(agreed).toBeLessThan(PHOTOS.length);

    const report = await evalJson(['--weights', model(A).weights, '--compare', tuned, '--compare-arch', A]);
    expectRate(report.comparison?.agreement, agreed, PHOTOS.length, 'agreement');
    const differ = labelled
      .map((image, i) => ({ path: image.path, label: image.label, predicted: [firstA[i], tunedFirst[i]] }))
      .filter((d) => d.predicted[0] !== d.predicted[1]);
    const byPath = (x: { path: string }, y: { path: string }): number => x.path.localeCompare(y.path);
    expect([...(report.comparison?.disagreements ?? [])].sort(byPath)).toEqual(differ.sort(byPath));
    const tunedTop1 = labelled.filter((image, i) => tunedFirst[i] === image.label).length;
    expectRate(report.models[1]?.accuracy.top1, tunedTop1, PHOTOS.length, 'tuned top-1');
    console.info(`${A} / ${A} with class ${second.index} raised: agree on ${agreed} of ${PHOTOS.length}`);
  });

  describe('a compared model that cannot be used fails the run with its code, and prints no report', () => {
    /** `eval` of the valid first model against what `compare` names. */
    const againstA = (compare: string[]): Promise<Run> => cli(['eval', '--weights', model(A).weights, ...compare, SET]);

    it('weights that are not the architecture --compare-arch names: STATE_DICT_MISMATCH', async () => {
      const wrong = join(DIR, 'wrong', 'my-weights.pth');
      mkdirSync(join(DIR, 'wrong'), { recursive: true });
      copyFileSync(model(B).weights, wrong);
      const { code, stdout, stderr } = await againstA(['--compare', wrong, '--compare-arch', 'resnet18']);
      expect(code).toBe(1);
      expect(stdout).toBe('');
      expect(stderr).toMatch(/\[STATE_DICT_MISMATCH\]$/m);
      expect(stderr).toContain('not a torchvision resnet18');
    });

    it('an .onnx file that is not an ONNX model: MODEL_INVALID, naming the file', async () => {
      const broken = join(DIR, 'broken.onnx');
      writeFileSync(broken, Buffer.from('this is not a protobuf, let alone an ONNX graph\n'.repeat(50)));
      const { code, stdout, stderr } = await againstA(['--compare', broken]);
      expect(code).toBe(1);
      expect(stdout).toBe('');
      expect(stderr).toMatch(/\[MODEL_INVALID\]$/m);
      expect(stderr).toContain(basename(broken));
    });

    it('a .pth that is no checkpoint at all: CHECKPOINT_INVALID', async () => {
      const garbage = join(DIR, 'garbage', 'garbage.pth');
      mkdirSync(join(DIR, 'garbage'), { recursive: true });
      writeFileSync(garbage, Buffer.alloc(4096, 0x5a));
      const { code, stdout, stderr } = await againstA(['--compare', garbage, '--compare-arch', A]);
      expect(code).toBe(1);
      expect(stdout).toBe('');
      expect(stderr).toMatch(/\[CHECKPOINT_INVALID\]$/m);
    });

    it('a file that is not there: INPUT_NOT_FOUND, naming it', async () => {
      const missing = join(DIR, 'nowhere', 'missing.pth');
      const { code, stdout, stderr } = await againstA(['--compare', missing, '--compare-arch', A]);
      expect(code).toBe(1);
      expect(stdout).toBe('');
      expect(stderr).toMatch(/\[INPUT_NOT_FOUND\]$/m);
      expect(stderr).toContain(missing);
    });

    it('a model with other classes: INVALID_ARGUMENT (exit 2), giving both class counts', async () => {
      const { code, stdout, stderr } = await againstA(['--compare', SHAPES]);
      expect(code).toBe(2);
      expect(stdout).toBe('');
      expect(stderr).toMatch(/\[INVALID_ARGUMENT\]$/m);
      expect(stderr).toContain('different class counts: 1000 and 8');
    });
  });
});
