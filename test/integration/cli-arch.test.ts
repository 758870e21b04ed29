/**
 * Issue #17's "done when" from the command line, one architecture per family: `classify --arch A --weights A.pth
 * --top 5 --json` on photos equals TorchVision's module with the DEFAULT weights' own transforms() on PIL within
 * 1e-4. The state_dicts (TorchVision's builders, seeded random weights) and the reference probabilities are made
 * at run time by PyTorch (test/fixtures/make_arch_fixtures.py), never by resnet-serve.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFileSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeArchFixtures, readArchFixture, referenceTensor } from '../helpers/arch-fixtures.js';
import { CLI } from '../helpers/cli-process.js';
import { IN_CI, REFERENCE_PYTHON } from '../helpers/reference-python.js';

const DIR = fileURLToPath(new URL('../.tmp/cli-arch/', import.meta.url));
const HOME = join(DIR, 'home');
const IMAGES = fileURLToPath(new URL('../fixtures/images/', import.meta.url));
/** One per family, each at its DEFAULT weights' crop size so the photos go through their own transforms(). */
const CASES = [
  { arch: 'resnet50', size: 224 },
  { arch: 'regnet_y_400mf', size: 224 },
  { arch: 'mobilenet_v3_small', size: 224 },
  { arch: 'efficientnet_b0', size: 224 },
  { arch: 'convnext_tiny', size: 224 },
] as const;
const TOLERANCE = 1e-4;
const TOP = 5;

interface Answer {
  file: string;
  model: string;
  precision: string;
  predictions: { index: number; probability: number }[];
}

function classify(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const env = { ...process.env, RESNET_SERVE_HOME: HOME };
    execFile(process.execPath, [CLI, ...args], { env, timeout: 300_000, maxBuffer: 1 << 24 }, (error, stdout, stderr) => {
      resolve({ code: error === null ? 0 : typeof error.code === 'number' ? error.code : 1, stdout, stderr });
    });
  });
}

describe.skipIf(REFERENCE_PYTHON === undefined && !IN_CI)('classify --arch A --weights A.pth equals TorchVision', () => {
  beforeAll(async () => {
    const seconds = await makeArchFixtures(CASES, DIR, { photos: true });
    console.info(`make_arch_fixtures.py ${CASES.map((c) => c.arch).join(' ')}: ${seconds.toFixed(1)} s`);
  }, 1_800_000);
  afterAll(() => rmSync(DIR, { recursive: true, force: true }));

  it.each(CASES)(
    '$arch: top-5 probabilities within 1e-4 of PyTorch on every photo, named by its weights',
    async ({ arch }) => {
      const { fixture, reference } = readArchFixture(DIR, arch);
      const photos = fixture.photos ?? [];
      expect(photos.length).toBeGreaterThan(0);
      const probabilities = referenceTensor(reference, 'photo_probabilities');
      const classes = probabilities.dims[1] ?? 0;
      const photoProbabilities = (i: number): number[] => [...probabilities.data.subarray(i * classes, (i + 1) * classes)];
      // In a folder of its own, with no other file beside it that resnet-serve could read as its `<stem>.json`.
      const weights = join(DIR, 'weights', `${arch}.pth`);
      mkdirSync(join(DIR, 'weights'), { recursive: true });
      copyFileSync(join(DIR, fixture.stateDict ?? `${arch}.pth`), weights);
      const files = photos.map((photo) => join(IMAGES, photo));
      const { code, stdout, stderr } = await classify([
        'classify',
        '--arch',
        arch,
        '--weights',
        weights,
        '--top',
        String(TOP),
        '--json',
        ...files,
      ]);
      expect(stderr).not.toContain('Error');
      expect(code).toBe(0);
      const answers = JSON.parse(stdout) as Answer[];
      const id = `${arch}-${createHash('sha256').update(readFileSync(weights)).digest('hex').slice(0, 8)}`;
      let worst = 0;
      for (const i of photos.keys()) {
        const answer = answers[i];
        const expectedProbabilities = photoProbabilities(i);
        expect(answer).toMatchObject({ file: files[i], model: id, precision: 'fp32' });
        // TorchVision's own top 5, in its order (the fixtures' random heads leave no ties this close).
        const expected = expectedProbabilities
          .map((probability, index) => ({ index, probability }))
          .sort((a, b) => b.probability - a.probability)
          .slice(0, TOP);
        expect(answer?.predictions.map((p) => p.index)).toEqual(expected.map((p) => p.index));
        for (const p of answer?.predictions ?? []) {
          const difference = Math.abs(p.probability - (expectedProbabilities[p.index] ?? Number.NaN));
          worst = Math.max(worst, difference);
          expect(difference).toBeLessThanOrEqual(TOLERANCE);
        }
      }
      console.info(`${arch} (${id}): ${photos.length} photos, worst |Δp| ${worst.toExponential(2)}`);
    },
    600_000,
  );

  it('refuses a state_dict that is not the architecture, naming the first key or shape that differs', async () => {
    // Under a name that implies no architecture (a TorchVision name would contradict --arch, INVALID_ARGUMENT).
    const mine = join(DIR, 'my-weights.pth');
    copyFileSync(join(DIR, readArchFixture(DIR, 'regnet_y_400mf').fixture.stateDict ?? 'regnet_y_400mf.pth'), mine);
    const { code, stderr } = await classify(['classify', '--arch', 'resnet50', '--weights', mine, join(IMAGES, 'photo-500x375.jpg')]);
    expect(code).toBe(1);
    expect(stderr).toContain('STATE_DICT_MISMATCH');
    expect(stderr).toMatch(/resnet50/);
  }, 300_000);
});
