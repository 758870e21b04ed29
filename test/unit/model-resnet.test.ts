import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { InferenceSession, Tensor } from 'onnxruntime-node';
import { beforeAll, describe, expect, it } from 'vitest';
import { buildResNetGraph, convertToOnnx } from '../../src/model/architectures/resnet.js';
import { readSafetensors } from '../../src/weights/safetensors.js';
import type { StateDict, TensorData } from '../../src/weights/types.js';
import { thrownError } from '../helpers/errors.js';
import { fixtureInput } from '../helpers/fixture-input.js';
import { syntheticResNet18StateDict } from '../helpers/synthetic-weights.js';

const FIXTURES = fileURLToPath(new URL('../fixtures/model/', import.meta.url));
const IMAGE = 224;
const PLANE = IMAGE * IMAGE;

interface LogitsFixture {
  classes: number;
  inputSums: number[];
  logits: number[][];
}
const reference = JSON.parse(readFileSync(`${FIXTURES}tiny-resnet18-logits.json`, 'utf8')) as LogitsFixture;

function loadTinyStateDict(): StateDict {
  return readSafetensors(readFileSync(`${FIXTURES}tiny-resnet18.safetensors`));
}

function withTensor(stateDict: StateDict, key: string, tensor: TensorData): StateDict {
  return new Map(stateDict).set(key, tensor);
}

describe('convertToOnnx on the tiny torchvision ResNet-18 fixture', () => {
  let session: InferenceSession;
  beforeAll(async () => {
    session = await InferenceSession.create(convertToOnnx(loadTinyStateDict()));
  });

  it('regenerates exactly the inputs PyTorch saw', () => {
    reference.inputSums.forEach((sum, k) => {
      const ours = fixtureInput(k).reduce((a, b) => a + b, 0);
      // Summation order differs from numpy's pairwise sum, so compare sums to float64 rounding, not bits.
      expect(Math.abs(ours - sum)).toBeLessThan(1e-6);
    });
  });

  it('declares input [N,3,224,224] and output logits [N,classes]', () => {
    expect(session.inputNames).toEqual(['input']);
    expect(session.outputNames).toEqual(['logits', 'features']);
  });

  it('matches PyTorch eval-mode logits for a batch of 3 in one run (|Δ| ≤ 1e-4, or relative 1e-4 above 1)', async () => {
    const batch = new Float32Array(3 * 3 * PLANE);
    for (let k = 0; k < 3; k++) batch.set(fixtureInput(k), k * 3 * PLANE);
    const { logits } = await session.run({ input: new Tensor('float32', batch, [3, 3, IMAGE, IMAGE]) });
    expect(logits?.dims).toEqual([3, reference.classes]);
    const ours = logits?.data as Float32Array;
    reference.logits.forEach((row, n) => {
      row.forEach((expected, j) => {
        const actual = ours[n * reference.classes + j] as number;
        const tolerance = Math.abs(expected) > 1 ? 1e-4 * Math.abs(expected) : 1e-4;
        expect(Math.abs(actual - expected), `logit [${n}, ${j}]`).toBeLessThanOrEqual(tolerance);
      });
    });
  });
});

describe('buildResNetGraph', () => {
  it('emits the torchvision topology with every BatchNorm folded away', () => {
    const graph = buildResNetGraph(loadTinyStateDict());
    const counts = new Map<string, number>();
    for (const node of graph.nodes) counts.set(node.opType, (counts.get(node.opType) ?? 0) + 1);
    // 1 stem + 16 block convs + 3 downsample convs; 1 + 16 relus; 8 residual adds; 1 Identity exposing layer4.
    expect(Object.fromEntries(counts)).toEqual({
      Conv: 20,
      Relu: 17,
      MaxPool: 1,
      Add: 8,
      Identity: 1,
      GlobalAveragePool: 1,
      Flatten: 1,
      Gemm: 1,
    });
    expect(graph.nodes.map((n) => n.name)).toContain('layer2.0.downsample.0');
    expect([...graph.initializers.keys()].some((name) => name.includes('bn') || name.includes('downsample.1'))).toBe(false);
    expect(graph.inputs).toEqual([{ name: 'input', elemType: 'float32', shape: ['N', 3, 224, 224] }]);
    expect(graph.outputs).toEqual([
      { name: 'logits', elemType: 'float32', shape: ['N', 10] },
      // 8 × width 4 channels at 224 / 32 = 7.
      { name: 'features', elemType: 'float32', shape: ['N', 32, 7, 7] },
    ]);
    expect(graph.nodes.find((n) => n.opType === 'Identity')?.inputs).toEqual(['layer4.1.relu2.out']);
  });
});

describe('STATE_DICT_MISMATCH', () => {
  it('rejects a state_dict with a missing key and names it', () => {
    const stateDict = loadTinyStateDict();
    stateDict.delete('layer3.1.bn2.running_var');
    const error = thrownError(() => convertToOnnx(stateDict));
    expect(error.code).toBe('STATE_DICT_MISMATCH');
    expect(error.message).toContain('missing layer3.1.bn2.running_var');
    expect(error.details).toMatchObject({ missing: ['layer3.1.bn2.running_var'], unexpected: [], misshaped: [] });
  });

  it('rejects a state_dict with an unexpected key and names it', () => {
    const stateDict = withTensor(loadTinyStateDict(), 'layer5.0.conv1.weight', { dtype: 'float32', shape: [1], data: new Float32Array(1) });
    const error = thrownError(() => convertToOnnx(stateDict));
    expect(error.code).toBe('STATE_DICT_MISMATCH');
    expect(error.message).toContain('unexpected layer5.0.conv1.weight');
  });

  it('rejects a mis-shaped key and names it with both shapes', () => {
    const stateDict = withTensor(loadTinyStateDict(), 'layer2.0.downsample.0.weight', {
      dtype: 'float32',
      shape: [8, 4, 3, 3],
      data: new Float32Array(288),
    });
    const error = thrownError(() => convertToOnnx(stateDict));
    expect(error.code).toBe('STATE_DICT_MISMATCH');
    expect(error.message).toContain('layer2.0.downsample.0.weight (expected float [8, 4, 1, 1], received float32 [8, 4, 3, 3])');
  });

  it('rejects an integer tensor where a float one belongs', () => {
    const stateDict = withTensor(loadTinyStateDict(), 'fc.bias', { dtype: 'int64', shape: [10], data: new BigInt64Array(10) });
    const error = thrownError(() => convertToOnnx(stateDict));
    expect(error.code).toBe('STATE_DICT_MISMATCH');
    expect(error.message).toContain('fc.bias (expected float [10], received int64 [10])');
  });

  it('rejects a tensor whose data length disagrees with its shape', () => {
    const stateDict = withTensor(loadTinyStateDict(), 'conv1.weight', {
      dtype: 'float32',
      shape: [4, 3, 7, 7],
      data: new Float32Array(600),
    });
    const error = thrownError(() => convertToOnnx(stateDict));
    expect(error.code).toBe('STATE_DICT_MISMATCH');
    expect(error.message).toContain('conv1.weight (expected float [4, 3, 7, 7], received float32 [4, 3, 7, 7] holding 600 elements)');
  });

  it('rejects a state_dict of another architecture, listing a bounded number of keys in the message', () => {
    const error = thrownError(() =>
      convertToOnnx(new Map([['features.0.weight', { dtype: 'float32', shape: [1], data: new Float32Array(1) }]])),
    );
    expect(error.code).toBe('STATE_DICT_MISMATCH');
    expect(error.message).toMatch(/missing conv1\.weight, .* and \d+ more; unexpected features\.0\.weight\.$/);
    expect(error.details?.missing as string[]).toHaveLength(20 * 5 + 2);
  });

  it('accepts a state_dict without num_batches_tracked buffers (pre-0.4.1 checkpoints)', () => {
    const stateDict = loadTinyStateDict();
    for (const key of [...stateDict.keys()]) if (key.endsWith('.num_batches_tracked')) stateDict.delete(key);
    expect(() => buildResNetGraph(stateDict)).not.toThrow();
  });
});

describe('full-width synthetic ResNet-18', () => {
  it('is accepted by ORT and outputs logits [N,1000]', async () => {
    const bytes = convertToOnnx(syntheticResNet18StateDict(7));
    const session = await InferenceSession.create(bytes);
    const input = new Float32Array(2 * 3 * PLANE).fill(0.5);
    const { logits } = await session.run({ input: new Tensor('float32', input, [2, 3, IMAGE, IMAGE]) });
    expect(logits?.dims).toEqual([2, 1000]);
    expect(logits).toBeDefined();
    expect((logits!.data as Float32Array).every(Number.isFinite)).toBe(true);
    await session.release();
  });

  it('is deterministic for a seed and has torchvision keys and shapes', () => {
    const a = syntheticResNet18StateDict(3);
    const b = syntheticResNet18StateDict(3);
    expect(a.size).toBe(122);
    expect(a.get('layer4.1.conv2.weight')?.shape).toEqual([512, 512, 3, 3]);
    expect(a.get('fc.weight')?.shape).toEqual([1000, 512]);
    expect(a.get('layer2.0.downsample.1.running_var')?.data).toEqual(b.get('layer2.0.downsample.1.running_var')?.data);
  });
});
