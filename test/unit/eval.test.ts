import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Classifier, createClassifier } from '../../src/classifier/index.js';
import { formatEvalReport } from '../../src/cli/eval-report.js';
import { formatEvalProgress } from '../../src/cli/tty.js';
import { rate } from '../../src/eval/accuracy.js';
import { listDataset } from '../../src/eval/dataset.js';
import { evaluate } from '../../src/eval/evaluate.js';
import { IMAGENET_WNIDS } from '../../src/labels/imagenet-wnids.js';
import { convertToOnnx } from '../../src/model/architectures/resnet.js';
import { quantizeToOnnx } from '../../src/model/quantize/quantize.js';
import { loadShapesFixture, loadShapesImages, loadShapesStateDict } from '../helpers/int8-fixture.js';

interface ShapesEval {
  images: number;
  top1Correct: number;
  top5Correct: number;
  /** PyTorch's five best classes per held-out image, best first. */
  top5Classes: number[][];
}

const reference = JSON.parse(readFileSync(new URL('../fixtures/cam/shapes-eval.json', import.meta.url), 'utf8')) as ShapesEval;
const THREADS = 2;
/** Held-out images filed under a wrong class on purpose, so accuracy and confusions have something to count. */
const MISFILED = new Map([
  [0, 5],
  [1, 5],
  [2, 0],
  [7, 2],
  [30, 6],
]);

describe('evaluate on the trained shapes fixture laid out as class-index folders', () => {
  const dir = mkdtempSync(join(tmpdir(), 'eval-'));
  const shapes = loadShapesFixture();
  const labelOf = (i: number): number => MISFILED.get(i) ?? (shapes.heldoutLabels[i] as number);
  let fp32: Classifier;

  beforeAll(async () => {
    // The fixture's raw 32×32 pixels as PNG files (lossless: PyTorch's PIL images were made from the same pixels).
    const raw = gunzipSync(readFileSync(new URL('../fixtures/int8/heldout.u8.gz', import.meta.url)));
    const size = shapes.imageSize;
    for (let i = 0; i < shapes.heldoutCount; i++) {
      const folder = join(dir, String(labelOf(i)));
      mkdirSync(folder, { recursive: true });
      const pixels = raw.subarray(i * size * size * 3, (i + 1) * size * size * 3);
      writeFileSync(
        join(folder, `${String(i).padStart(3, '0')}.png`),
        await sharp(pixels, { raw: { width: size, height: size, channels: 3 } })
          .png()
          .toBuffer(),
      );
    }
    writeFileSync(join(dir, '3', 'notes.txt'), 'not an image');
    writeFileSync(join(dir, '4', 'empty.jpg'), '');
    fp32 = await createClassifier({ model: convertToOnnx(loadShapesStateDict()), threads: THREADS, cacheDir: join(dir, '.cache') });
  });
  afterAll(async () => {
    await fp32?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('scores exactly what PyTorch scores on the same files (top-1 and top-5, mistakes included)', async () => {
    const dataset = await listDataset(dir, 8);
    expect(dataset.layout).toBe('index-folders');
    expect(dataset.images).toHaveLength(reference.images + 2);
    const report = await evaluate(dataset, [{ name: 'fp32', classifier: fp32 }], { classes: 8 });
    const labels = Array.from({ length: reference.images }, (_, i) => labelOf(i));
    const top1 = labels.filter((label, i) => reference.top5Classes[i]?.[0] === label).length;
    const top5 = labels.filter((label, i) => reference.top5Classes[i]?.includes(label)).length;
    // PyTorch gets every correctly filed image right: the misfiled ones are the only misses.
    expect(reference.top1Correct).toBe(reference.images);
    expect(top1).toBe(reference.images - MISFILED.size);
    const accuracy = report.models[0]?.accuracy;
    expect(accuracy?.top1.correct).toBe(top1);
    expect(accuracy?.top5.correct).toBe(top5);
    expect(report.evaluated).toBe(reference.images);
    // Two misfiled red-circle/red-square images under 5 make the most frequent confusion.
    expect(accuracy?.confusions[0]).toEqual({ label: 5, predicted: reference.top5Classes[0]?.[0], count: 2 });
    expect(report.unreadable.map((u) => [u.path.slice(dir.length + 1), u.code])).toEqual([
      ['3/notes.txt', 'UNSUPPORTED_MEDIA_TYPE'],
      ['4/empty.jpg', 'FILE_EMPTY'],
    ]);
    const text = formatEvalReport(report, (i) => shapes.classNames[i] ?? String(i));
    expect(text).toContain(`150 images evaluated (index-folders)`);
    expect(text).toContain('2 of 152 files unreadable');
    expect(text).toMatch(/fp32 +96\.67% \[/);
  });

  it('--compare int8: both models side by side with their top-1 agreement', async () => {
    const calibration = loadShapesImages('calibration', shapes);
    const int8 = await createClassifier({
      model: await quantizeToOnnx(loadShapesStateDict(), { calibration, threads: THREADS }),
      threads: THREADS,
      cacheDir: join(dir, '.cache'),
    });
    try {
      const report = await evaluate(
        await listDataset(dir, 8),
        [
          { name: 'fp32', classifier: fp32 },
          { name: 'int8', classifier: int8 },
        ],
        { classes: 8, concurrency: 8 },
      );
      expect(report.models.map((m) => m.name)).toEqual(['fp32', 'int8']);
      expect(report.comparison?.agreement.total).toBe(reference.images);
      expect(report.comparison?.agreement.rate).toBeGreaterThanOrEqual(0.98);
      expect(report.comparison?.disagreements).toHaveLength(reference.images - (report.comparison?.agreement.correct ?? 0));
      expect(formatEvalReport(report, String)).toMatch(/top-1 agreement fp32 \/ int8: \d+\.\d\d% \[/);
    } finally {
      await int8.close();
    }
  });
});

describe('listDataset layouts', () => {
  const dir = mkdtempSync(join(tmpdir(), 'eval-layout-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('maps WordNet-id folders through the shipped id list, so a subset keeps ImageNet indices', async () => {
    const root = join(dir, 'val');
    for (const wnid of ['n02123045', 'n01440764']) {
      mkdirSync(join(root, wnid, 'sub'), { recursive: true });
      writeFileSync(join(root, wnid, 'a.JPEG'), 'x');
      writeFileSync(join(root, wnid, 'sub', 'b.JPEG'), 'x');
    }
    const dataset = await listDataset(root, 1000);
    expect(dataset.layout).toBe('wordnet-folders');
    expect(dataset.images.map((i) => [i.path.slice(root.length + 1), i.label])).toEqual([
      ['n01440764/a.JPEG', 0],
      ['n01440764/sub/b.JPEG', 0],
      ['n02123045/a.JPEG', IMAGENET_WNIDS.indexOf('n02123045')],
      ['n02123045/sub/b.JPEG', 281],
    ]);
  });

  it('reads a TSV of path<TAB>index (or WordNet id) lines relative to the file', async () => {
    const tsv = join(dir, 'labels.tsv');
    writeFileSync(tsv, '# path\tlabel\nimages/a.png\t3\n\nimages/b.png\t0\n');
    const dataset = await listDataset(tsv, 10);
    expect(dataset.layout).toBe('tsv');
    expect(dataset.images).toEqual([
      { path: join(dir, 'images/a.png'), label: 3 },
      { path: join(dir, 'images/b.png'), label: 0 },
    ]);
    // ImageNet's own ground truth names classes by WordNet id; those map through the shipped list.
    const wnids = join(dir, 'val.tsv');
    writeFileSync(wnids, 'ILSVRC2012_val_00000001.JPEG\tn01751748\n');
    expect((await listDataset(wnids, 1000)).images[0]?.label).toBe(IMAGENET_WNIDS.indexOf('n01751748'));
  });

  it('refuses folders it cannot read a class from, labels beyond the model, and missing paths', async () => {
    mkdirSync(join(dir, 'mixed', 'cats'), { recursive: true });
    mkdirSync(join(dir, 'mixed', '1'), { recursive: true });
    await expect(listDataset(join(dir, 'mixed'), 10)).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    await expect(listDataset(join(dir, 'labels.tsv'), 2)).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
      message: expect.stringContaining('labelled 3'),
    });
    await expect(listDataset(join(dir, 'nope'), 10)).rejects.toMatchObject({ code: 'INPUT_NOT_FOUND' });
  });
});

describe('rate: Wilson 95% interval', () => {
  it('matches published values and stays inside [0, 1]', () => {
    // 8/10: [0.4902, 0.9433] (Newcombe 1998, method 3); 10/10: [0.7225, 1].
    const r = rate(8, 10);
    expect(r.ci95[0]).toBeCloseTo(0.4902, 4);
    expect(r.ci95[1]).toBeCloseTo(0.9433, 4);
    expect(rate(10, 10).ci95[0]).toBeCloseTo(0.7225, 4);
    expect(rate(10, 10).ci95[1]).toBe(1);
    expect(rate(0, 10).ci95[0]).toBe(0);
  });
});

describe('formatEvalProgress', () => {
  it('shows the share done, the rate and the time left', () => {
    expect(formatEvalProgress({ done: 21_000, total: 50_000, elapsedMs: 350_000 })).toBe(
      'eval  42% [##########--------------] 21000/50000  60.0 img/s  ETA 8m03s',
    );
    expect(formatEvalProgress({ done: 0, total: 10, elapsedMs: 0 })).toMatch(/ETA \?$/);
  });
});

describe('evaluate keeps memory bounded', () => {
  it('never has more than `concurrency` images read and in the classifier at once', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'eval-bound-'));
    try {
      for (let i = 0; i < 40; i++) writeFileSync(join(dir, `${i}.bin`), 'x');
      const images = Array.from({ length: 40 }, (_, i) => ({ path: join(dir, `${i}.bin`), label: i % 3 }));
      let inFlight = 0;
      let most = 0;
      const classifier = {
        async classify(): Promise<{ predictions: { index: number }[] }> {
          most = Math.max(most, ++inFlight);
          await new Promise((resolve) => setTimeout(resolve, 1));
          inFlight--;
          return { predictions: [{ index: 0 }, { index: 1 }] };
        },
      };
      const report = await evaluate({ layout: 'tsv', images }, [{ name: 'm', classifier }], { classes: 3, concurrency: 4 });
      expect(most).toBe(4);
      expect(report.evaluated).toBe(40);
      // Label 0 is answered first (14 of 40), label 1 second (13 of 40, top-5 only).
      expect(report.models[0]?.accuracy.top1.correct).toBe(14);
      expect(report.models[0]?.accuracy.top5.correct).toBe(27);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
