import { readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import ort from 'onnxruntime-node';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Classifier, createClassifier } from '../../src/classifier/index.js';
import { camCells, normaliseCam, rawCam } from '../../src/explain/cam.js';
import { preprocess } from '../../src/image/index.js';
import { cropBox } from '../../src/image/recipe-geometry.js';
import { buildResNetGraph, convertToOnnx } from '../../src/model/architectures/resnet.js';
import { readClassifierHead } from '../../src/model/classifier-head.js';
import { encodeModel } from '../../src/model/onnx/proto.js';
import { loadShapesFixture, loadShapesStateDict } from '../helpers/int8-fixture.js';

/** A ResNet's map at 224 px: 7 × 7 cells (stride 32). */
const CAM_CELLS = camCells({ grid: 7 });

const shapes = loadShapesFixture();
const stateDict = loadShapesStateDict();
const model = convertToOnnx(stateDict);

/** Held-out image `i` of the shapes fixture, upscaled to `width` × `height` (nearest) as a PNG. */
async function heldoutPng(i: number, width: number, height: number): Promise<Buffer> {
  const raw = gunzipSync(readFileSync(new URL('../fixtures/int8/heldout.u8.gz', import.meta.url)));
  const size = shapes.imageSize;
  const pixels = raw.subarray(i * size * size * 3, (i + 1) * size * size * 3);
  return sharp(pixels, { raw: { width: size, height: size, channels: 3 } })
    .resize(width, height, { kernel: 'nearest', fit: 'fill' })
    .png()
    .toBuffer();
}

describe('classify(bytes, { explain: true })', () => {
  let classifier: Classifier;
  beforeAll(async () => {
    classifier = await createClassifier({ model, threads: 2 });
  });
  afterAll(() => classifier.close());

  it('returns one map per prediction, equal to the CAM of the features ORT computes for the same tensor', async () => {
    const png = await heldoutPng(5, 320, 240);
    const result = await classifier.classify(png, { topK: 3, explain: true });
    const explanation = result.explanation;
    expect(explanation?.image).toEqual({ width: 320, height: 240 });
    expect(explanation?.crop).toEqual(cropBox(320, 240));
    expect(explanation?.maps).toHaveLength(3);

    const session = await ort.InferenceSession.create(model);
    const out = await session.run({ input: new ort.Tensor('float32', await preprocess(png), [1, 3, 224, 224]) }, ['features']);
    await session.release();
    const lookup = await readClassifierHead(model);
    if (!('head' in lookup)) throw new Error(lookup.unavailable);
    result.predictions.forEach((p, j) => {
      const expected = normaliseCam(rawCam(out.features?.data as Float32Array, lookup.head, p.index));
      const map = explanation?.maps[j] as Float32Array;
      expect(map).toHaveLength(CAM_CELLS);
      map.forEach((v, cell) => {
        expect(v).toBeCloseTo(expected[cell] as number, 5);
      });
      expect(Math.max(...map)).toBe(1);
    });
  });

  it('answers plain and explained requests of the same batch each as asked', async () => {
    const [plain, explained] = await Promise.all([
      classifier.classify(await heldoutPng(1, 64, 64)),
      classifier.classify(await heldoutPng(2, 64, 64), { explain: true }),
    ]);
    expect(plain.explanation).toBeUndefined();
    expect(explained.explanation?.maps).toHaveLength(3);
  });
});

describe('a --model without the features output', () => {
  let classifier: Classifier;
  beforeAll(async () => {
    const graph = buildResNetGraph(stateDict);
    const plain = encodeModel({ ...graph, outputs: graph.outputs.slice(0, 1), nodes: graph.nodes.filter((n) => n.opType !== 'Identity') });
    classifier = await createClassifier({ model: plain, threads: 2 });
  });
  afterAll(() => classifier.close());

  it('classifies as before but answers explanations with EXPLAIN_UNAVAILABLE', async () => {
    const png = await heldoutPng(0, 64, 64);
    expect((await classifier.classify(png)).predictions).toHaveLength(3);
    await expect(classifier.classify(png, { explain: true })).rejects.toMatchObject({
      code: 'EXPLAIN_UNAVAILABLE',
      message: expect.stringContaining('no features output'),
    });
  });
});
