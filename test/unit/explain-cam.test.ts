import { readFileSync } from 'node:fs';
import ort from 'onnxruntime-node';
import { beforeAll, describe, expect, it } from 'vitest';
import { camCells, normaliseCam, rawCam } from '../../src/explain/cam.js';
import { convertToOnnx } from '../../src/model/architectures/resnet.js';
import { type ClassifierHead, readClassifierHead } from '../../src/model/classifier-head.js';
import { quantizeToOnnx } from '../../src/model/quantize/quantize.js';
import { thrownError } from '../helpers/errors.js';
import { fixtureInput } from '../helpers/fixture-input.js';
import { loadShapesFixture, loadShapesImages, loadShapesStateDict } from '../helpers/int8-fixture.js';
import { syntheticResNet18StateDict } from '../helpers/synthetic-weights.js';

/** A ResNet's map at 224 px: 7 × 7 cells (stride 32). */
const CAM_CELLS = camCells({ grid: 7 });

interface GradCamFixture {
  classes: number[][];
  logits: number[][];
  /** [image][class][7][7], Grad-CAM before ReLU; CAM = 49 × this. */
  gradCam: number[][][][];
}
interface ShapesGradCam extends GradCamFixture {
  heldoutIndices: number[];
}
interface SyntheticGradCam extends GradCamFixture {
  seed: number;
  inputs: number;
  fcWeightSum: number;
}

const fixture = <T>(name: string): T => JSON.parse(readFileSync(new URL(`../fixtures/cam/${name}`, import.meta.url), 'utf8')) as T;
const THREADS = 2;

/** Runs `model` on `images` in one batch and returns its logits and features. */
async function run(model: Uint8Array, images: readonly Float32Array[]): Promise<{ logits: Float32Array; features: Float32Array }> {
  const session = await ort.InferenceSession.create(model, { intraOpNumThreads: THREADS, interOpNumThreads: 1 });
  try {
    const batch = new Float32Array(images.length * 3 * 224 * 224);
    images.forEach((image, i) => {
      batch.set(image, i * image.length);
    });
    const out = await session.run({ input: new ort.Tensor('float32', batch, [images.length, 3, 224, 224]) }, ['logits', 'features']);
    return { logits: out.logits?.data as Float32Array, features: out.features?.data as Float32Array };
  } finally {
    await session.release();
  }
}

async function headOf(model: Uint8Array): Promise<ClassifierHead> {
  const lookup = await readClassifierHead(model);
  if (!('head' in lookup)) throw new Error(lookup.unavailable);
  return lookup.head;
}

/** max |ours − 49·gradCam| over every map of the fixture, and the largest |reference| value. */
function worstDifference(reference: GradCamFixture, features: Float32Array, head: ClassifierHead): { error: number; scale: number } {
  let error = 0;
  let scale = 0;
  const perImage = head.channels * CAM_CELLS;
  reference.classes.forEach((classes, n) => {
    classes.forEach((c, j) => {
      const ours = rawCam(features, head, c, n * perImage);
      (reference.gradCam[n]?.[j] ?? []).flat().forEach((g, cell) => {
        error = Math.max(error, Math.abs((ours[cell] as number) - 49 * g));
        scale = Math.max(scale, Math.abs(49 * g));
      });
    });
  });
  return { error, scale };
}

function pearson(a: Float32Array, b: Float32Array): number {
  const mean = (x: Float32Array): number => x.reduce((s, v) => s + v, 0) / x.length;
  const ma = mean(a);
  const mb = mean(b);
  let ab = 0;
  let aa = 0;
  let bb = 0;
  for (let i = 0; i < a.length; i++) {
    const da = (a[i] as number) - ma;
    const db = (b[i] as number) - mb;
    ab += da * db;
    aa += da * da;
    bb += db * db;
  }
  return ab / Math.sqrt(aa * bb);
}

describe('class activation maps on the trained shapes fixture, against PyTorch Grad-CAM', () => {
  const reference = fixture<ShapesGradCam>('shapes-gradcam.json');
  const stateDict = loadShapesStateDict();
  const shapes = loadShapesFixture();
  const heldout = loadShapesImages('heldout', shapes);
  const images = reference.heldoutIndices.map((i) => heldout[i] as Float32Array);
  let fp32: { logits: Float32Array; features: Float32Array };
  let fp32Head: ClassifierHead;
  const fp32Model = convertToOnnx(stateDict);

  beforeAll(async () => {
    fp32 = await run(fp32Model, images);
    fp32Head = await headOf(fp32Model);
  });

  it('reads fc out of the fp32 model as torchvision stores it', () => {
    expect(fp32Head.classes).toBe(8);
    expect(fp32Head.channels).toBe(64);
    expect(fp32Head.weight).toEqual(stateDict.get('fc.weight')?.data);
  });

  it('fp32: CAM = 49 × Grad-CAM within 1e-4, for every class of each image', () => {
    expect(images).toHaveLength(8);
    const { error, scale } = worstDifference(reference, fp32.features, fp32Head);
    expect(scale).toBeGreaterThan(1);
    // Measured: 6.3e-5 on maps of up to 89 (512 channels of float32 sums).
    expect(error).toBeLessThanOrEqual(1e-4);
  });

  it('fp32: the mean of a map plus the fc bias is the logit', () => {
    const bias = stateDict.get('fc.bias')?.data as Float32Array;
    for (let n = 0; n < images.length; n++) {
      for (let c = 0; c < 8; c++) {
        const map = rawCam(fp32.features, fp32Head, c, n * 64 * CAM_CELLS);
        const mean = map.reduce((s, v) => s + v, 0) / CAM_CELLS;
        expect(mean + (bias[c] as number)).toBeCloseTo(fp32.logits[n * 8 + c] as number, 4);
      }
    }
  });

  it('int8: the top class map correlates with fp32 (Pearson ≥ 0.95 on every image)', async () => {
    const calibration = loadShapesImages('calibration', shapes);
    const int8Model = await quantizeToOnnx(stateDict, { calibration, threads: THREADS });
    const int8 = await run(int8Model, images);
    const int8Head = await headOf(int8Model);
    // Dequantised per-channel int8 weights: within half a step of the float ones.
    const fcMax = Math.max(...Array.from(fp32Head.weight, Math.abs));
    fp32Head.weight.forEach((w, i) => {
      expect(Math.abs((int8Head.weight[i] as number) - w)).toBeLessThanOrEqual(fcMax / 127);
    });
    const correlations = images.map((_, n) => {
      const top = topClass(fp32.logits, n);
      const offset = n * 64 * CAM_CELLS;
      return pearson(rawCam(fp32.features, fp32Head, top, offset), rawCam(int8.features, int8Head, top, offset));
    });
    // Measured (ORT 1.30, AMD EPYC): 0.9998 to 1.0000.
    expect(Math.min(...correlations)).toBeGreaterThanOrEqual(0.95);
  });
});

describe('class activation maps on the full-width synthetic ResNet-18, against PyTorch Grad-CAM', () => {
  const reference = fixture<SyntheticGradCam>('synthetic-gradcam.json');

  it('fp32: CAM = 49 × Grad-CAM within 1e-4 for the top 3 classes', async () => {
    const stateDict = syntheticResNet18StateDict(reference.seed);
    const fc = stateDict.get('fc.weight')?.data as Float32Array;
    // The same weights PyTorch saw (the script regenerates the TS helper's numbers).
    expect(fc.reduce((s, v) => s + v, 0)).toBeCloseTo(reference.fcWeightSum, 6);
    const model = convertToOnnx(stateDict);
    const images = Array.from({ length: reference.inputs }, (_, k) => fixtureInput(k));
    const { features, logits } = await run(model, images);
    reference.classes.forEach((classes, n) => {
      expect(classes[0]).toBe(topClass(logits, n, 1000));
    });
    const { error, scale } = worstDifference(reference, features, await headOf(model));
    expect(scale).toBeGreaterThan(1);
    // Measured: 6.3e-5 on maps of up to 89 (512 channels of float32 sums).
    expect(error).toBeLessThanOrEqual(1e-4);
  });
});

describe('normaliseCam', () => {
  it('keeps the positive evidence and scales its maximum to 1', () => {
    const map = normaliseCam(Float32Array.from([-2, 0, 1, 4]));
    expect(Array.from(map)).toEqual([0, 0, 0.25, 1]);
  });

  it('gives all zeros when no cell is positive', () => {
    expect(Array.from(normaliseCam(Float32Array.from([-1, -3, 0])))).toEqual([0, 0, 0]);
  });
});

describe('rawCam argument checks', () => {
  const head: ClassifierHead = { classes: 2, channels: 1, grid: 7, weight: Float32Array.from([1, -1]) };
  it('maps one channel through its weight', () => {
    const features = Float32Array.from({ length: CAM_CELLS }, (_, i) => i);
    expect(rawCam(features, head, 1)[5]).toBe(-5);
  });
  it('refuses a class outside the head and features that are too short, with INVALID_ARGUMENT', () => {
    expect(thrownError(() => rawCam(new Float32Array(CAM_CELLS), head, 2))).toMatchObject({
      code: 'INVALID_ARGUMENT',
      details: { parameter: 'classIndex' },
    });
    expect(thrownError(() => rawCam(new Float32Array(CAM_CELLS - 1), head, 0))).toMatchObject({
      code: 'INVALID_ARGUMENT',
      details: { parameter: 'features' },
    });
  });
});

function topClass(logits: Float32Array, n: number, classes = 8): number {
  let best = 0;
  for (let c = 1; c < classes; c++) if ((logits[n * classes + c] as number) > (logits[n * classes + best] as number)) best = c;
  return best;
}
