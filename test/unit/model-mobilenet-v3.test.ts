import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { InferenceSession, Tensor } from 'onnxruntime-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { preprocess } from '../../src/image/index.js';
import { IMAGENET_RECIPE } from '../../src/image/recipe.js';
import { softmax } from '../../src/labels/postprocess.js';
import { MOBILENET_V3 } from '../../src/model/architectures/mobilenet-v3.js';
import { encodeModel } from '../../src/model/onnx/proto.js';
import {
  type ArchCase,
  buildArch,
  expectTorchVisionLogits,
  type LoadedArchFixture,
  makeArchFixtures,
  readArchFixture,
  referenceTensor,
} from '../helpers/arch-fixtures.js';
import { thrownError } from '../helpers/errors.js';
import { countOpTypes } from '../helpers/onnx-op-types.js';
import { IN_CI, REFERENCE_PYTHON } from '../helpers/reference-python.js';

const IMAGES = fileURLToPath(new URL('../fixtures/images/', import.meta.url));
const DIR = fileURLToPath(new URL('../.tmp/arch-fixtures/mobilenet_v3', import.meta.url));
/** Both at the 224 px of their weights' recipe: they are small. */
const CASES: readonly ArchCase[] = [
  { arch: 'mobilenet_v3_large', size: 224 },
  { arch: 'mobilenet_v3_small', size: 224 },
];
const TOLERANCE = { relative: 1e-4, probability: 1e-4 };

describe.runIf(REFERENCE_PYTHON === undefined && IN_CI)('MobileNetV3 fixtures in CI', () => {
  it('can be made with TorchVision', () => {
    expect.fail('.cache/venv/bin/python is missing: .ci/run must install torch, torchvision and safetensors into it');
  });
});

describe.skipIf(REFERENCE_PYTHON === undefined)('MobileNetV3 against TorchVision (fixtures from make_arch_fixtures.py)', () => {
  const loaded = new Map<string, LoadedArchFixture>();
  beforeAll(async () => {
    const seconds = await makeArchFixtures(CASES, DIR, { photos: true });
    console.info(`make_arch_fixtures.py ${CASES.map((c) => c.arch).join(' ')}: ${seconds.toFixed(1)} s`);
    for (const { arch } of CASES) loaded.set(arch, readArchFixture(DIR, arch));
  }, 1_800_000);
  afterAll(() => loaded.clear());

  it.each(CASES)('$arch at $size px equals TorchVision in eval mode', async ({ arch, size }) => {
    const loadedFixture = loaded.get(arch)!;
    const { stateDict } = loadedFixture;
    const start = performance.now();
    const built = buildArch(arch, stateDict, size);
    const agreement = await expectTorchVisionLogits(built, loadedFixture, TOLERANCE);
    console.info(`${arch} @ ${size}: ${JSON.stringify(agreement)}, build + run ${(performance.now() - start).toFixed(0)} ms`);
  });

  it('classifies photos as TorchVision does through mobilenet_v3_small.DEFAULT.transforms() on PIL (|Δp| ≤ 1e-4)', async () => {
    const { fixture, stateDict, reference } = loaded.get('mobilenet_v3_small')!;
    const expected = referenceTensor(reference, 'photo_probabilities').data;
    // IMAGENET1K_V1's recipe is ResNet-18's: resize 256 bilinear, crop 224, so preprocess() applies as it is.
    expect(fixture.transforms).toEqual({
      resizeSize: [IMAGENET_RECIPE.resizeSize],
      cropSize: [IMAGENET_RECIPE.cropSize],
      interpolation: IMAGENET_RECIPE.interpolation,
      antialias: IMAGENET_RECIPE.antialias,
      mean: [...IMAGENET_RECIPE.mean],
      std: [...IMAGENET_RECIPE.std],
    });
    const session = await InferenceSession.create(encodeModel(buildArch('mobilenet_v3_small', stateDict, 224).graph));
    try {
      for (const [i, photo] of (fixture.photos ?? []).entries()) {
        const input = await preprocess(new Uint8Array(readFileSync(`${IMAGES}${photo}`)));
        const { logits } = await session.run({ input: new Tensor('float32', input, [1, 3, 224, 224]) });
        const probabilities = softmax(logits?.data as Float32Array);
        const worst = probabilities.reduce((w, p, j) => Math.max(w, Math.abs(p - (expected[i * 1000 + j] as number))), 0);
        console.info(`mobilenet_v3_small on ${photo}: max |Δp| ${worst.toExponential(2)}`);
        expect(worst, photo).toBeLessThanOrEqual(1e-4);
      }
    } finally {
      await session.release();
    }
    expect(fixture.photos).toHaveLength(5);
  });

  it('writes Hardswish, Hardsigmoid squeeze-excitation and a nonlinear head without `features`', () => {
    const built = buildArch('mobilenet_v3_large', loaded.get('mobilenet_v3_large')!.stateDict, 224);
    expect(built.featureChannels).toBeUndefined();
    expect(built.graph.outputs.map((o) => o.name)).toEqual(['logits']);
    const ops = countOpTypes(built.graph.nodes.map((n) => n.opType));
    // 1 stem + 15 blocks (the first without expansion) + 1 last conv: 1 + 44 + 1 convs, 8 SE with 2 each.
    expect(ops.BatchNormalization).toBeUndefined();
    expect(ops).toMatchObject({ HardSigmoid: 8, GlobalAveragePool: 9, Gemm: 2 });
    expect(ops.Conv).toBe(1 + 14 * 3 + 2 + 1 + 8 * 2);
    expect(built.graph.nodes.find((n) => n.name === 'features.4.block.2.scale_activation')?.attributes.alpha?.value).toBeCloseTo(1 / 6, 7);
  });

  it('refuses a mobilenet_v3_small state_dict as mobilenet_v3_large, naming the first key that differs', () => {
    const error = thrownError(() => buildArch('mobilenet_v3_large', loaded.get('mobilenet_v3_small')!.stateDict, 224));
    expect(error.code).toBe('STATE_DICT_MISMATCH');
    // The first block of the small network has squeeze-excitation where the large one projects.
    expect(error.details?.first).toBe('features.1.block.1.0.weight');
    expect(error.message).toMatch(/^The state_dict is not a torchvision mobilenet_v3_large \(1000 classes\): missing /);
  });

  it('refuses a mis-shaped classifier and a missing BatchNorm statistic, naming them', () => {
    const stateDict = new Map(loaded.get('mobilenet_v3_small')!.stateDict);
    stateDict.delete('features.5.block.1.1.running_var');
    stateDict.set('classifier.0.weight', { dtype: 'float32', shape: [1024, 575], data: new Float32Array(1024 * 575) });
    const error = thrownError(() => buildArch('mobilenet_v3_small', stateDict, 224));
    expect(error.code).toBe('STATE_DICT_MISMATCH');
    expect(error.details?.first).toBe('features.5.block.1.1.running_var');
    expect(error.message).toContain('classifier.0.weight (expected float [1024, 576], received float32 [1024, 575])');
  });

  it('takes the class count from the classifier', () => {
    const stateDict = new Map(loaded.get('mobilenet_v3_small')!.stateDict);
    stateDict.set('classifier.3.weight', { dtype: 'float32', shape: [10, 1024], data: new Float32Array(10 * 1024) });
    stateDict.set('classifier.3.bias', { dtype: 'float32', shape: [10], data: new Float32Array(10) });
    expect(buildArch('mobilenet_v3_small', stateDict, 96).graph.outputs[0]?.shape).toEqual(['N', 10]);
  });
});

describe('MOBILENET_V3', () => {
  it('names the two builders as torchvision.models.get_model does', () => {
    expect(MOBILENET_V3.map((a) => [a.name, a.family])).toEqual([
      ['mobilenet_v3_large', 'mobilenet_v3'],
      ['mobilenet_v3_small', 'mobilenet_v3'],
    ]);
  });

  it('refuses an input size that is not a positive integer', () => {
    expect(thrownError(() => MOBILENET_V3[0]!.build(new Map(), { inputSize: 0 })).code).toBe('INVALID_ARGUMENT');
  });
});
