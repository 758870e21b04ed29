import { fileURLToPath } from 'node:url';
import { InferenceSession, Tensor } from 'onnxruntime-node';
import { beforeAll, describe, expect, it } from 'vitest';
import { camCells, rawCam } from '../../src/explain/cam.js';
import { type ClassifierHead, readClassifierHead } from '../../src/model/classifier-head.js';
import { encodeModel } from '../../src/model/onnx/proto.js';
import { type ArchCase, buildArch, makeArchFixtures, readArchFixture, referenceTensor } from '../helpers/arch-fixtures.js';
import { IN_CI, REFERENCE_PYTHON } from '../helpers/reference-python.js';

/**
 * Issue #17: for every family whose head is global-average-pool → linear (the ones whose graph has a `features`
 * output), the class activation map equals g² × Grad-CAM, as explain-cam.test.ts checks for ResNet-18.
 * make_arch_fixtures.py --grad-cam builds TorchVision's own module with seeded random weights and computes Grad-CAM
 * of each input's top 3 classes by autograd on what its `avgpool` reads; here our converter builds the ONNX graph
 * from the same state_dict, ONNX Runtime gives `features`, the head is read out of the model as the server reads it,
 * and `rawCam` makes the maps. Nothing on the reference side comes from our code.
 *
 * One of each family: Bottleneck ResNet (layer4 → avgpool → fc), RegNet (trunk_output → avgpool → fc; RegNetX has
 * the same head, so it is left out to keep the file short), EfficientNet (features → avgpool → Dropout → Linear).
 * ConvNeXt and MobileNetV3 have no `features`: their heads are not linear in the pooled features. All at 224 px, a
 * 7 × 7 grid as the ResNet-18 fixture.
 */
const CASES: readonly ArchCase[] = [
  { arch: 'resnet50', size: 224 },
  { arch: 'regnet_y_400mf', size: 224 },
  { arch: 'efficientnet_b0', size: 224 },
];
/**
 * Largest |CAM − g² · Grad-CAM| allowed, relative to the largest |g² · Grad-CAM| of the map (at least 1).
 * Measured (torch 2.13, ORT 1.30): 3.9e-6 resnet50, 2.2e-6 regnet_y_400mf, 3.4e-6 efficientnet_b0, on maps of up to
 * 50-70; a 1 % error in one channel's fc weight gives 4.9e-4 to 1.3e-3, and 5 % on one output channel of the last
 * convolution 4.0e-4 to 4.2e-3.
 */
const TOLERANCE = 1e-4;
const DIR = fileURLToPath(new URL('../.tmp/arch-fixtures/cam', import.meta.url));

describe.runIf(REFERENCE_PYTHON === undefined && IN_CI)('Grad-CAM fixtures of the architectures in CI', () => {
  it('can be made with TorchVision', () => {
    expect.fail('.cache/venv/bin/python is missing: .ci/run must install torch, torchvision and safetensors into it');
  });
});

/** Runs the graph on the reference inputs in one batch: our logits and features. */
async function run(model: Uint8Array, inputs: { data: Float32Array; dims: readonly number[] }) {
  const session = await InferenceSession.create(model, { intraOpNumThreads: 2, interOpNumThreads: 1 });
  try {
    const out = await session.run({ input: new Tensor('float32', inputs.data, [...inputs.dims]) }, ['logits', 'features']);
    return { logits: out.logits?.data as Float32Array, features: out.features?.data as Float32Array };
  } finally {
    await session.release();
  }
}

/** |CAM − g² · Grad-CAM| / max(1, max |g² · Grad-CAM|) over the cells of one map. */
function relativeDifference(ours: Float32Array, gradCam: Float32Array, cells: number): { error: number; scale: number } {
  let error = 0;
  let scale = 0;
  for (let i = 0; i < cells; i++) {
    error = Math.max(error, Math.abs((ours[i] as number) - cells * (gradCam[i] as number)));
    scale = Math.max(scale, Math.abs(cells * (gradCam[i] as number)));
  }
  return { error: error / Math.max(1, scale), scale };
}

describe.skipIf(REFERENCE_PYTHON === undefined)('class activation maps of every pool → linear family, against PyTorch Grad-CAM', () => {
  beforeAll(async () => {
    const seconds = await makeArchFixtures(CASES, DIR, { gradCam: true });
    console.info(`make_arch_fixtures.py --grad-cam ${CASES.map((c) => c.arch).join(' ')}: ${seconds.toFixed(1)} s`);
  }, 300_000);

  it.each(CASES)('$arch at $size px: CAM = g² × Grad-CAM within 1e-4 of the map for the top 3 classes', async ({ arch, size }) => {
    const { stateDict, reference } = readArchFixture(DIR, arch);
    const built = buildArch(arch, stateDict, size);
    const model = encodeModel(built.graph);
    const lookup = await readClassifierHead(model);
    if (!('head' in lookup)) throw new Error(lookup.unavailable);
    const head: ClassifierHead = lookup.head;
    expect(head.channels).toBe(built.featureChannels);
    expect(head.grid).toBe(size / 32);

    const inputs = referenceTensor(reference, 'inputs');
    const gradCam = referenceTensor(reference, 'gradcam');
    const classes = reference.get('gradcam_classes');
    if (!(classes?.data instanceof Int32Array)) throw new Error('the reference has no int32 gradcam_classes');
    const [images = 0, top = 0, g = 0] = gradCam.dims;
    expect(gradCam.dims).toEqual([inputs.dims[0], 3, head.grid, head.grid]);
    expect(classes.shape).toEqual([images, top]);
    const cells = camCells(head);
    expect(g * g).toBe(cells);

    const { logits, features } = await run(model, inputs);
    let worst = 0;
    let largest = 0;
    for (let n = 0; n < images; n++) {
      // The same classes on both sides: PyTorch's top class is ours.
      const row = logits.subarray(n * head.classes, (n + 1) * head.classes);
      expect(row.indexOf(Math.max(...row))).toBe(classes.data[n * top]);
      for (let j = 0; j < top; j++) {
        const c = classes.data[n * top + j] as number;
        const ours = rawCam(features, head, c, n * head.channels * cells);
        const reference = gradCam.data.subarray((n * top + j) * cells, (n * top + j + 1) * cells);
        const { error, scale } = relativeDifference(ours, reference, cells);
        worst = Math.max(worst, error);
        largest = Math.max(largest, scale);
        // The tolerance tells classes apart: another class's map is far from this Grad-CAM.
        const other = rawCam(features, head, classes.data[n * top + ((j + 1) % top)] as number, n * head.channels * cells);
        expect(relativeDifference(other, reference, cells).error).toBeGreaterThan(100 * TOLERANCE);
      }
    }
    console.info(
      `${arch} @ ${size}: max |CAM − ${cells}·Grad-CAM| / max(1, max |map|) = ${worst.toExponential(2)}, maps up to ${largest.toFixed(2)}`,
    );
    expect(largest).toBeGreaterThan(1);
    expect(worst).toBeLessThanOrEqual(TOLERANCE);
  });
});
