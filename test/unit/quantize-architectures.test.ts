import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { architectureOf } from '../../src/model/architectures/index.js';
import { encodeModel } from '../../src/model/onnx/proto.js';
import { planQuantization } from '../../src/model/quantize/graph.js';
import { logitsOf, quantizeToOnnx } from '../../src/model/quantize/quantize.js';
import { type ArchCase, makeArchFixtures, readArchFixture, referenceTensor } from '../helpers/arch-fixtures.js';
import { rejectedError } from '../helpers/errors.js';
import { optimisedOpTypes } from '../helpers/onnx-op-types.js';
import { IN_CI, REFERENCE_PYTHON } from '../helpers/reference-python.js';

/**
 * int8 for the families beyond ResNet, on TorchVision's own modules with seeded random weights
 * (make_arch_fixtures.py): the convolutions and matrix products run as ORT's int8 kernels, the elementwise and
 * normalisation ops stay float, and data-free calibration is refused where it cannot follow the graph.
 * Agreement on trained networks is quantize.test.ts's (ResNet-18); these random-weight ones have logit margins of
 * a few tenths, so their deviations are logged, not held to a top-1 threshold.
 */
const DIR = fileURLToPath(new URL('../.tmp/arch-fixtures/int8', import.meta.url));
const SIZE = 64;
const CASES: readonly ArchCase[] = ['regnet_y_400mf', 'mobilenet_v3_small', 'efficientnet_b0', 'convnext_tiny'].map((arch) => ({
  arch,
  size: SIZE,
}));
const THREADS = 2;
/** Ops the quantiser leaves float: their outputs get a Q/DQ pair only where a Conv/MatMul/Gemm reads them. */
const FLOAT_OPS = new Set(['Sigmoid', 'HardSigmoid', 'HardSwish', 'Mul', 'LayerNormalization', 'Erf', 'Div']);

describe.runIf(REFERENCE_PYTHON === undefined && IN_CI)('int8 architecture fixtures in CI', () => {
  it('have their reference Python', () => {
    expect.fail('.cache/venv/bin/python is missing: .ci/run must install torch, torchvision and safetensors into it');
  });
});

describe.skipIf(REFERENCE_PYTHON === undefined)('int8 for RegNet, MobileNetV3, EfficientNet and ConvNeXt', () => {
  beforeAll(async () => {
    await makeArchFixtures(CASES, DIR);
  }, 1_800_000);

  it.each(CASES)(
    '$arch: every Conv and MatMul fused into int8 kernels by ONNX Runtime, float ops kept float, ¼ of the bytes',
    async ({ arch }) => {
      const loaded = readArchFixture(DIR, arch);
      const { graph } = architectureOf(arch).build(loaded.stateDict, { inputSize: SIZE });
      const inputs = referenceTensor(loaded.reference, 'inputs');
      const perImage = 3 * SIZE * SIZE;
      const images = [0, 1, 2].map((k) => inputs.data.slice(k * perImage, (k + 1) * perImage));
      // Calibration: the three inputs and noise around them (random weights have no natural images to see).
      const calibration = [0.8, 1, 1.2].flatMap((gain) =>
        images.map((image) => image.map((v, i) => v * gain + ((i * 7919) % 13) / 26 - 0.25)),
      );
      const int8 = await quantizeToOnnx(loaded.stateDict, { architecture: arch, inputSize: SIZE, calibration, threads: THREADS });
      const fp32 = encodeModel(graph);

      const plan = planQuantization(graph);
      const readers = new Map<string, string[]>();
      for (const node of graph.nodes) for (const input of node.inputs) readers.set(input, [...(readers.get(input) ?? []), node.opType]);
      for (const node of graph.nodes.filter((n) => FLOAT_OPS.has(n.opType))) {
        const output = node.outputs[0] ?? '';
        if (plan.rangeTensors.includes(output))
          expect(readers.get(output)?.some((op) => ['Conv', 'MatMul', 'Gemm'].includes(op))).toBe(true);
      }

      const ops = await optimisedOpTypes(int8, THREADS);
      const count = (op: string): number => ops.filter((o) => o === op).length;
      const floatCount = (op: string): number => graph.nodes.filter((n) => n.opType === op).length;
      expect(count('com.microsoft:QLinearConv')).toBe(floatCount('Conv'));
      expect(count('QLinearMatMul') + count('com.microsoft:QLinearMatMul')).toBe(floatCount('MatMul'));
      expect(ops.filter((o) => /(^|:)(Conv|Gemm)$/.test(o))).toEqual([]);

      const f = await logitsOf(fp32, images, { threads: THREADS });
      const q = await logitsOf(int8, images, { threads: THREADS });
      let worst = 0;
      let scale = 0;
      for (let i = 0; i < f.length; i++) {
        worst = Math.max(worst, Math.abs((f[i] as number) - (q[i] as number)));
        scale = Math.max(scale, Math.abs(f[i] as number));
      }
      expect(Number.isFinite(worst)).toBe(true);
      console.info(
        `${arch} @ ${SIZE}: max |Δ logit| ${worst.toFixed(3)} at max |logit| ${scale.toFixed(2)}, size ${(fp32.length / int8.length).toFixed(2)}× smaller`,
      );
      expect(int8.length).toBeLessThan(fp32.length / 3);
    },
    600_000,
  );

  it.each(CASES)('$arch: int8 without calibration images is refused, naming why and asking for images', async ({ arch }) => {
    const { stateDict } = readArchFixture(DIR, arch);
    const error = await rejectedError(() => quantizeToOnnx(stateDict, { architecture: arch, inputSize: SIZE }));
    expect(error.code).toBe('INVALID_ARGUMENT');
    expect(error.details).toMatchObject({
      parameter: 'calibration',
      architecture: arch,
      reason: `data-free-${architectureOf(arch).family}`,
    });
    expect(error.message).toContain('--calibration');
  });
});
