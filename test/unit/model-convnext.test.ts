import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CONVNEXT } from '../../src/model/architectures/convnext.js';
import {
  type ArchCase,
  buildArch,
  expectTorchVisionLogits,
  type LoadedArchFixture,
  makeArchFixtures,
  readArchFixture,
} from '../helpers/arch-fixtures.js';
import { thrownError } from '../helpers/errors.js';
import { countOpTypes } from '../helpers/onnx-op-types.js';
import { IN_CI, REFERENCE_PYTHON } from '../helpers/reference-python.js';

const DIR = fileURLToPath(new URL('../.tmp/arch-fixtures/convnext', import.meta.url));
/** convnext_tiny at its recipe's 224 px; the deeper ones (27 blocks in stage 3) small. 100 px floors in the stem. */
const CASES: readonly ArchCase[] = [
  { arch: 'convnext_tiny', size: 224 },
  { arch: 'convnext_small', size: 100 },
  { arch: 'convnext_base', size: 64 },
  { arch: 'convnext_large', size: 64 },
];
const TOLERANCE = { relative: 1e-4, probability: 1e-4 };

describe.runIf(REFERENCE_PYTHON === undefined && IN_CI)('ConvNeXt fixtures in CI', () => {
  it('can be made with TorchVision', () => {
    expect.fail('.cache/venv/bin/python is missing: .ci/run must install torch, torchvision and safetensors into it');
  });
});

describe.skipIf(REFERENCE_PYTHON === undefined)('ConvNeXt against TorchVision (fixtures from make_arch_fixtures.py)', () => {
  let tiny: LoadedArchFixture;
  beforeAll(async () => {
    const seconds = await makeArchFixtures(CASES, DIR);
    console.info(`make_arch_fixtures.py ${CASES.map((c) => c.arch).join(' ')}: ${seconds.toFixed(1)} s`);
    tiny = readArchFixture(DIR, 'convnext_tiny');
  }, 1_800_000);
  afterAll(() => {
    tiny.stateDict.clear();
  });

  it.each(CASES)(
    '$arch at $size px equals TorchVision in eval mode',
    async ({ arch, size }) => {
      const start = performance.now();
      const loadedFixture = arch === 'convnext_tiny' ? tiny : readArchFixture(DIR, arch);
      const { fixture, stateDict } = loadedFixture;
      const read = performance.now();
      const agreement = await expectTorchVisionLogits(buildArch(arch, stateDict, size), loadedFixture, TOLERANCE);
      console.info(
        `${arch} @ ${size} (${((fixture.parameters ?? 0) / 1e6).toFixed(1)}M parameters): ${JSON.stringify(agreement)}, ` +
          `read ${(read - start).toFixed(0)} ms, build + run ${(performance.now() - read).toFixed(0)} ms`,
      );
    },
    180_000,
  );

  it('writes LayerNormalization, exact-erf GELU and layer_scale folded into the second Linear; no `features`', () => {
    const built = buildArch('convnext_tiny', tiny.stateDict, 224);
    expect(built.featureChannels).toBeUndefined();
    expect(built.graph.outputs.map((o) => o.name)).toEqual(['logits']);
    const ops = countOpTypes(built.graph.nodes.map((n) => n.opType));
    // 18 blocks, 1 stem + 3 downsampling LayerNorm2d, 1 in the head.
    expect(ops).toMatchObject({ LayerNormalization: 18 + 4 + 1, Erf: 18, MatMul: 36, Conv: 1 + 18 + 3, Gemm: 1 });
    expect(ops.Mul).toBe(2 * 18);
    const fc2 = built.graph.initializers.get('features.1.0.block.5.weight');
    // [4·96 in, 96 out]: transposed for MatMul, each column scaled by layer_scale.
    expect(fc2?.dims).toEqual([384, 96]);
    const weight = tiny.stateDict.get('features.1.0.block.5.weight')?.data as Float32Array;
    const scale = tiny.stateDict.get('features.1.0.layer_scale')?.data as Float32Array;
    expect(fc2?.data[1 * 96 + 5]).toBe(Math.fround((weight[5 * 384 + 1] as number) * (scale[5] as number)));
  });

  it('refuses a state_dict without a layer_scale, naming it', () => {
    const stateDict = new Map(tiny.stateDict);
    stateDict.delete('features.5.4.layer_scale');
    const error = thrownError(() => buildArch('convnext_tiny', stateDict, 224));
    expect(error.code).toBe('STATE_DICT_MISMATCH');
    expect(error.details?.first).toBe('features.5.4.layer_scale');
  });

  it('refuses a convnext_tiny state_dict as convnext_small, naming the first key that differs', () => {
    const error = thrownError(() => buildArch('convnext_small', tiny.stateDict, 224));
    expect(error.code).toBe('STATE_DICT_MISMATCH');
    // Stage 3 has 9 blocks in tiny and 27 in small.
    expect(error.details?.first).toBe('features.5.9.layer_scale');
  });
});

describe('CONVNEXT', () => {
  it('names the four builders as torchvision.models.get_model does', () => {
    expect(CONVNEXT.map((a) => a.name)).toEqual(['convnext_tiny', 'convnext_small', 'convnext_base', 'convnext_large']);
  });

  it("refuses an input below ConvNeXt's min_size of 32 px", () => {
    expect(thrownError(() => CONVNEXT[0]!.build(new Map(), { inputSize: 31 })).code).toBe('INVALID_ARGUMENT');
  });
});
