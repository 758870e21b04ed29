import { beforeAll, describe, expect, it } from 'vitest';
import { buildResNetGraph, convertToOnnx } from '../../src/model/architectures/resnet.js';
import type { OnnxGraph, OnnxNode } from '../../src/model/onnx/graph.js';
import { encodeModel } from '../../src/model/onnx/proto.js';
import { agreement } from '../../src/model/quantize/agreement.js';
import { calibrateRanges } from '../../src/model/quantize/calibrate.js';
import { dataFreeRanges } from '../../src/model/quantize/calibrate-data-free.js';
import { planQuantization, quantizeGraph } from '../../src/model/quantize/graph.js';
import { quantizeBias, quantizePerChannel, uint8Params } from '../../src/model/quantize/params.js';
import { logitsOf, quantizeToOnnx, validateAgreement } from '../../src/model/quantize/quantize.js';
import type { StateDict } from '../../src/weights/types.js';
import { rejectedError } from '../helpers/errors.js';
import { loadShapesFixture, loadShapesImages, loadShapesStateDict, type ShapesFixture } from '../helpers/int8-fixture.js';
import { optimisedOpTypes } from '../helpers/onnx-op-types.js';

const THREADS = 2;

const catchAsync = rejectedError;

function argmax(row: Float32Array): number {
  let best = 0;
  for (let c = 1; c < row.length; c++) if ((row[c] as number) > (row[best] as number)) best = c;
  return best;
}

describe('agreement', () => {
  it('counts top-1 matches, fp32 top-1 inside int8 top-3, and the mean KL of the softmaxes', () => {
    // Image 0: identical logits. Image 1: int8 ranks fp32's best (class 0) second. Image 2: fourth.
    const fp32 = Float32Array.of(3, 2, 1, 0, /**/ 3, 2, 1, 0, /**/ 3, 2, 1, 0);
    const int8 = Float32Array.of(3, 2, 1, 0, /**/ 2, 3, 1, 0, /**/ 0, 3, 2, 1);
    const result = agreement(fp32, int8, 3, 4);
    expect(result.top1).toBeCloseTo(1 / 3, 12);
    expect(result.top3).toBeCloseTo(2 / 3, 12);
    // KL(p‖q) = Σ p (log p − log q); image 0 contributes 0 and the log-partition functions are equal.
    const z = Math.log(Math.exp(3) + Math.exp(2) + Math.exp(1) + 1);
    const p = [3, 2, 1, 0].map((v) => Math.exp(v - z));
    const kl = (q: number[]): number => p.reduce((sum, pc, c) => sum + pc * ([3, 2, 1, 0][c]! - q[c]!), 0);
    expect(result.meanKl).toBeCloseTo((0 + kl([2, 3, 1, 0]) + kl([0, 3, 2, 1])) / 3, 12);
  });

  it('rejects logits whose length is not n × classes with INVALID_ARGUMENT', async () => {
    const error = await catchAsync(async () => agreement(new Float32Array(6), new Float32Array(5), 2, 3));
    expect(error.code).toBe('INVALID_ARGUMENT');
  });
});

describe('quantisation arithmetic (as onnxruntime quant_utils)', () => {
  it('gives a post-ReLU range zero point 0 and a symmetric range a middle zero point', () => {
    expect(uint8Params({ min: 0, max: 2.55 })).toEqual({ scale: Math.fround(0.01), zeroPoint: 0 });
    // 1 / float32(2/255) = 127.49999…: the float32 scale rounds the zero point to 127, as numpy float32 does in ORT.
    expect(uint8Params({ min: -1, max: 1 })).toEqual({ scale: Math.fround(2 / 255), zeroPoint: 127 });
    // A range that excludes 0 is widened to include it, so 0 stays exact.
    expect(uint8Params({ min: 1, max: 2.55 }).zeroPoint).toBe(0);
  });

  it('quantises weights per output channel to ±127 and biases with scale input × weight', () => {
    const q = quantizePerChannel(Float32Array.of(0.5, -1, 0.25, 0, 0, 0), 2);
    expect(Array.from(q.scales)).toEqual([Math.fround(1 / 127), 1]);
    expect(Array.from(q.data)).toEqual([64, -127, 32, 0, 0, 0]);
    const b = quantizeBias(Float32Array.of(0.1, -2), 0.02, q.scales);
    expect(b.scales[0]).toBe(Math.fround(0.02 * Math.fround(1 / 127)));
    expect(Array.from(b.data)).toEqual([Math.round(0.1 / Math.fround(0.02 * Math.fround(1 / 127))), -100]);
  });
});

describe('int8 ResNet-18 on the coloured-shapes fixture', () => {
  let fixture: ShapesFixture;
  let stateDict: StateDict;
  let graph: OnnxGraph;
  let heldout: Float32Array[];
  let calibration: Float32Array[];
  let fp32Logits: Float32Array;
  let classes: number;

  beforeAll(async () => {
    fixture = loadShapesFixture();
    stateDict = loadShapesStateDict();
    graph = buildResNetGraph(stateDict);
    heldout = loadShapesImages('heldout', fixture);
    calibration = loadShapesImages('calibration', fixture);
    classes = fixture.classNames.length;
    fp32Logits = await logitsOf(convertToOnnx(stateDict), heldout, { threads: THREADS });
  }, 120_000);

  it('runs our fp32 ONNX to PyTorch’s logits and accuracy', () => {
    const torchLogits = Float32Array.from(fixture.logits.flat());
    let maxDiff = 0;
    for (let i = 0; i < torchLogits.length; i++)
      maxDiff = Math.max(maxDiff, Math.abs((fp32Logits[i] as number) - (torchLogits[i] as number)));
    // shapes.json rounds logits to 5 decimals; the float32 arithmetic differences are ~1e-5.
    expect(maxDiff).toBeLessThan(1e-3);
    const correct = fixture.heldoutLabels.filter(
      (label, i) => argmax(fp32Logits.subarray(i * classes, (i + 1) * classes)) === label,
    ).length;
    expect(correct / heldout.length).toBe(fixture.fp32Accuracy);
    expect(fixture.fp32Accuracy).toBeGreaterThanOrEqual(0.95);
  });

  it('writes Q/DQ pairs, int8 per-channel weights on axis 0 and int32 biases, and drops the Relus', () => {
    const int8 = quantizeGraph(graph, dataFreeRanges(graph, stateDict));
    const ops = (type: string): OnnxNode[] => int8.nodes.filter((n) => n.opType === type);
    expect(ops('Relu')).toHaveLength(0);
    expect(ops('Conv')).toHaveLength(20);
    for (const node of [...ops('Conv'), ...ops('Gemm')]) {
      const producers = node.inputs.map((input) => int8.nodes.find((n) => n.outputs.includes(input)));
      expect(producers.map((p) => p?.opType)).toEqual(['DequantizeLinear', 'DequantizeLinear', 'DequantizeLinear']);
      const [, weightDq, biasDq] = producers as [OnnxNode, OnnxNode, OnnxNode];
      expect(weightDq.attributes.axis).toEqual({ type: 'int', value: 0 });
      expect(biasDq.attributes.axis).toEqual({ type: 'int', value: 0 });
      const weight = int8.initializers.get(weightDq.inputs[0]!);
      const weightScale = int8.initializers.get(weightDq.inputs[1]!);
      const weightZero = int8.initializers.get(weightDq.inputs[2]!);
      const outChannels = weight?.dims[0];
      expect(weight?.dtype).toBe('int8');
      expect(weightScale?.dims).toEqual([outChannels]);
      expect(weightZero?.dtype).toBe('int8');
      expect(weightZero?.data instanceof Int8Array && weightZero.data.every((z) => z === 0)).toBe(true);
      expect(int8.initializers.get(biasDq.inputs[0]!)?.dtype).toBe('int32');
    }
    // One pair on the input, one per quantised activation; MaxPool and Flatten reuse their input's pair.
    const plan = planQuantization(graph);
    expect(ops('QuantizeLinear')).toHaveLength(plan.rangeTensors.length + plan.sharedTensors.size);
    expect(int8.initializers.get('input.zero_point')?.dtype).toBe('uint8');
    // Float weights of quantised layers are gone; the float graph is untouched.
    expect(int8.initializers.has('layer1.0.conv1.weight')).toBe(false);
    expect(graph.initializers.get('layer1.0.conv1.weight')?.dtype).toBe('float32');
  });

  it('is fused by ONNX Runtime into int8 kernels, with no float Conv or Gemm left and float features out', async () => {
    const ops = await optimisedOpTypes(encodeModel(quantizeGraph(graph, dataFreeRanges(graph, stateDict))), THREADS);
    const count = (op: string): number => ops.filter((o) => o === op).length;
    expect(count('com.microsoft:QLinearConv')).toBe(20);
    expect(count('com.microsoft:QLinearAdd')).toBe(8);
    expect(count('com.microsoft:QGemm')).toBe(1);
    expect(count('com.microsoft:QLinearGlobalAveragePool')).toBe(1);
    // The one DequantizeLinear left turns layer4's uint8 output into the float `features` output.
    expect(ops.filter((o) => /(^|:)(Conv|Gemm|Add|DequantizeLinear)$/.test(o))).toEqual(['DequantizeLinear']);
  });

  it('calibrated int8 agrees with fp32 on ≥ 98% of held-out top-1 answers', async () => {
    const int8 = await quantizeToOnnx(stateDict, { calibration, threads: THREADS });
    const int8Logits = await logitsOf(int8, heldout, { threads: THREADS });
    const result = agreement(fp32Logits, int8Logits, heldout.length, classes);
    expect(result.top1).toBeGreaterThanOrEqual(0.98);
    expect(result.top3).toBe(1);
    // Measured 1.7e-5 nats when the fixture was made; visibly clipped ranges (data-free k = 4) give 5.5e-2.
    expect(result.meanKl).toBeLessThan(1e-3);
  });

  it('data-free int8 (BatchNorm statistics, no images) agrees with fp32 on ≥ 98% of top-1 answers', async () => {
    const int8 = await quantizeToOnnx(stateDict, { threads: THREADS });
    const report = await validateAgreement(convertToOnnx(stateDict), int8, heldout, { threads: THREADS });
    expect(report.images).toBe(heldout.length);
    expect(report.classes).toBe(classes);
    // Measured: 100% top-1, mean KL 3e-5 nats (k = 16); see DataFreeOptions.k for the sweep.
    expect(report.top1).toBeGreaterThanOrEqual(0.98);
    expect(report.meanKl).toBeLessThan(1e-2);
  });

  it('percentile calibration also keeps ≥ 98% agreement', async () => {
    const ranges = await calibrateRanges(graph, calibration, { method: 'percentile', threads: THREADS });
    const int8Logits = await logitsOf(encodeModel(quantizeGraph(graph, ranges)), heldout, { threads: THREADS });
    expect(agreement(fp32Logits, int8Logits, heldout.length, classes).top1).toBeGreaterThanOrEqual(0.98);
  });

  it('rejects a calibration image of the wrong size with INVALID_ARGUMENT', async () => {
    const error = await catchAsync(() => calibrateRanges(graph, [new Float32Array(10)]));
    expect(error.code).toBe('INVALID_ARGUMENT');
  });

  it('rejects ranges that miss a planned tensor with INVALID_ARGUMENT', async () => {
    const error = await catchAsync(async () => quantizeGraph(graph, new Map([['input', { min: -2, max: 2 }]])));
    expect(error.code).toBe('INVALID_ARGUMENT');
  });
});
