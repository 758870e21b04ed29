import { fileURLToPath } from 'node:url';
import { InferenceSession, Tensor } from 'onnxruntime-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EFFICIENTNET } from '../../src/model/architectures/efficientnet.js';
import { encodeModel } from '../../src/model/onnx/proto.js';
import {
  type ArchCase,
  buildArch,
  expectTorchVisionLogits,
  type LoadedArchFixture,
  makeArchFixtures,
  readArchFixture,
} from '../helpers/arch-fixtures.js';
import { thrownError } from '../helpers/errors.js';
import { fixtureInput } from '../helpers/fixture-input.js';
import { countOpTypes } from '../helpers/onnx-op-types.js';
import { IN_CI, REFERENCE_PYTHON } from '../helpers/reference-python.js';

const DIR = fileURLToPath(new URL('../.tmp/arch-fixtures/efficientnet', import.meta.url));
/**
 * b0 at its recipe's 224 px; the rest, whose recipes go up to 600 px, at small sides (parameters, not pixels, are
 * what these tests must cover). 100 is not a multiple of 32: it checks the padding arithmetic of the odd grids.
 */
const CASES: readonly ArchCase[] = [
  { arch: 'efficientnet_b0', size: 224 },
  { arch: 'efficientnet_b1', size: 100 },
  { arch: 'efficientnet_b2', size: 96 },
  { arch: 'efficientnet_b3', size: 64 },
  { arch: 'efficientnet_b4', size: 64 },
  { arch: 'efficientnet_b5', size: 64 },
  { arch: 'efficientnet_b6', size: 64 },
  { arch: 'efficientnet_b7', size: 64 },
  { arch: 'efficientnet_v2_s', size: 96 },
  { arch: 'efficientnet_v2_m', size: 64 },
  { arch: 'efficientnet_v2_l', size: 64 },
];
const TOLERANCE = { relative: 1e-4, probability: 1e-4 };

describe.runIf(REFERENCE_PYTHON === undefined && IN_CI)('EfficientNet fixtures in CI', () => {
  it('can be made with TorchVision', () => {
    expect.fail('.cache/venv/bin/python is missing: .ci/run must install torch, torchvision and safetensors into it');
  });
});

describe.skipIf(REFERENCE_PYTHON === undefined)('EfficientNet against TorchVision (fixtures from make_arch_fixtures.py)', () => {
  const loaded = new Map<string, LoadedArchFixture>();
  const load = (arch: string): LoadedArchFixture => {
    const entry = loaded.get(arch) ?? readArchFixture(DIR, arch);
    loaded.set(arch, entry);
    return entry;
  };
  beforeAll(async () => {
    const seconds = await makeArchFixtures(CASES, DIR);
    console.info(`make_arch_fixtures.py ${CASES.map((c) => c.arch).join(' ')}: ${seconds.toFixed(1)} s`);
  }, 1_800_000);
  afterAll(() => loaded.clear());

  it.each(CASES)(
    '$arch at $size px equals TorchVision in eval mode',
    async ({ arch, size }) => {
      const start = performance.now();
      // Only b0 and b1 are kept for the tests below: the big state_dicts are let go as soon as they are checked.
      const loadedFixture = arch === 'efficientnet_b0' || arch === 'efficientnet_b1' ? load(arch) : readArchFixture(DIR, arch);
      const { fixture, stateDict } = loadedFixture;
      const read = performance.now();
      const built = buildArch(arch, stateDict, size);
      const agreement = await expectTorchVisionLogits(built, loadedFixture, TOLERANCE);
      console.info(
        `${arch} @ ${size} (${((fixture.parameters ?? 0) / 1e6).toFixed(1)}M parameters): ${JSON.stringify(agreement)}, ` +
          `read ${(read - start).toFixed(0)} ms, build + run ${(performance.now() - read).toFixed(0)} ms`,
      );
    },
    120_000,
  );

  it('exposes `features` whose average through the classifier is the logits (class activation maps are exact)', async () => {
    const built = buildArch('efficientnet_b1', load('efficientnet_b1').stateDict, 100);
    expect(built.featureChannels).toBe(1280);
    // 100 → 50 → 25 → 13 → 7 → 4: five stride-2 convolutions with "same" padding round up.
    expect(built.graph.outputs[1]).toEqual({ name: 'features', elemType: 'float32', shape: ['N', 1280, 4, 4] });
    const session = await InferenceSession.create(encodeModel(built.graph));
    try {
      const { logits, features } = await session.run({ input: new Tensor('float32', fixtureInput(0, 100), [1, 3, 100, 100]) });
      const f = features?.data as Float32Array;
      const ours = logits?.data as Float32Array;
      const { stateDict } = load('efficientnet_b1');
      const weight = stateDict.get('classifier.1.weight')?.data as Float32Array;
      const bias = stateDict.get('classifier.1.bias')?.data as Float32Array;
      const cells = 16;
      for (const k of [0, 17, 999]) {
        let sum = bias[k] as number;
        for (let c = 0; c < 1280; c++) {
          let mean = 0;
          for (let i = 0; i < cells; i++) mean += f[c * cells + i] as number;
          sum += ((weight[k * 1280 + c] as number) * mean) / cells;
        }
        expect(Math.abs(sum - (ours[k] as number))).toBeLessThan(1e-4);
      }
    } finally {
      await session.release();
    }
  });

  it('writes SiLU as Sigmoid · x and squeeze-excitation in every MBConv, none in FusedMBConv', () => {
    const ops = countOpTypes(buildArch('efficientnet_b0', load('efficientnet_b0').stateDict, 224).graph.nodes.map((n) => n.opType));
    // 16 MBConv blocks: each SE has one Sigmoid gate and one SiLU; 1 + 15 + 16 + 1 SiLU of convolutions besides.
    expect(ops.BatchNormalization).toBeUndefined();
    expect(ops.GlobalAveragePool).toBe(16 + 1);
    expect(ops.Sigmoid).toBe(16 + 16 + (1 + 15 + 16 + 1));
  });

  it('refuses an efficientnet_b0 state_dict as efficientnet_b1, naming the first key that differs', () => {
    const error = thrownError(() => buildArch('efficientnet_b1', load('efficientnet_b0').stateDict, 240));
    expect(error.code).toBe('STATE_DICT_MISMATCH');
    // depth_mult 1.1 gives stage 1 ceil(1.1) = 2 blocks where b0 has one.
    expect(error.details?.first).toBe('features.1.1.block.0.0.weight');
  });

  it('refuses a mis-shaped depthwise kernel, naming it with both shapes', () => {
    const stateDict = new Map(load('efficientnet_b0').stateDict);
    stateDict.set('features.3.0.block.1.0.weight', { dtype: 'float32', shape: [144, 1, 3, 3], data: new Float32Array(144 * 9) });
    const error = thrownError(() => buildArch('efficientnet_b0', stateDict, 224));
    expect(error.details?.first).toBe('features.3.0.block.1.0.weight');
    expect(error.message).toContain('features.3.0.block.1.0.weight (expected float [144, 1, 5, 5], received float32 [144, 1, 3, 3])');
  });
});

describe('EFFICIENTNET', () => {
  it('names the eleven builders as torchvision.models.get_model does', () => {
    expect(EFFICIENTNET.map((a) => a.name)).toEqual([
      ...[0, 1, 2, 3, 4, 5, 6, 7].map((b) => `efficientnet_b${b}`),
      'efficientnet_v2_s',
      'efficientnet_v2_m',
      'efficientnet_v2_l',
    ]);
  });

  it("refuses an input below EfficientNetV2's min_size of 33 px", () => {
    const v2s = EFFICIENTNET.find((a) => a.name === 'efficientnet_v2_s')!;
    expect(thrownError(() => v2s.build(new Map(), { inputSize: 32 })).code).toBe('INVALID_ARGUMENT');
  });
});
