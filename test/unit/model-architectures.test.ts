import { readFileSync } from 'node:fs';
import { InferenceSession, Tensor } from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { ARCHITECTURES, architectureOf } from '../../src/model/architectures/index.js';
import { blockParams, REGNET_CONFIGS, type RegNetName } from '../../src/model/architectures/regnet-layout.js';
import { buildResNetGraph } from '../../src/model/architectures/resnet.js';
import { RESNET_CONFIGS } from '../../src/model/architectures/resnet-layout.js';
import { encodeModel } from '../../src/model/onnx/proto.js';
import { dataFreeRanges } from '../../src/model/quantize/calibrate-data-free.js';
import { planQuantization } from '../../src/model/quantize/graph.js';
import { quantizeToOnnx } from '../../src/model/quantize/quantize.js';
import { TORCHVISION_WEIGHTS } from '../../src/weights/torchvision-weights.js';
import { thrownError } from '../helpers/errors.js';
import { syntheticResNetStateDict } from '../helpers/synthetic-weights.js';

/** TorchVision's own BlockParams for every RegNet builder, from make_arch_fixtures.py block-params. */
const TORCHVISION_BLOCK_PARAMS = (
  JSON.parse(readFileSync(new URL('../fixtures/arch/regnet-block-params.json', import.meta.url), 'utf8')) as {
    builders: Record<
      string,
      {
        initParams: { depth: number; w_0: number; w_a: number; w_m: number; group_width: number; se_ratio?: number };
        depths: number[];
        widths: number[];
        groupWidths: number[];
        bottleneckMultipliers: number[];
        strides: number[];
        seRatio: number | null;
      }
    >;
  }
).builders;

describe('the architecture registry', () => {
  it('has every architecture of the weights table under its TorchVision name, ResNet and RegNet first', () => {
    const names = [...ARCHITECTURES.keys()];
    expect(names.slice(0, 25)).toEqual([...Object.keys(RESNET_CONFIGS), ...Object.keys(REGNET_CONFIGS)]);
    expect(new Set(names)).toEqual(new Set(Object.keys(TORCHVISION_WEIGHTS)));
    expect(ARCHITECTURES.size).toBe(42);
    const familyOf = (name: string): string =>
      name.startsWith('regnet')
        ? 'regnet'
        : name.startsWith('mobilenet_v3')
          ? 'mobilenet_v3'
          : name.startsWith('efficientnet')
            ? 'efficientnet'
            : name.startsWith('convnext')
              ? 'convnext'
              : 'resnet';
    for (const [name, architecture] of ARCHITECTURES) {
      expect(architecture.name).toBe(name);
      expect(architecture.family).toBe(familyOf(name));
    }
  });

  it('refuses an unknown name with INVALID_ARGUMENT naming the known ones', () => {
    const error = thrownError(() => architectureOf('resnet19'));
    expect(error.code).toBe('INVALID_ARGUMENT');
    expect(error.message).toContain('resnet18, resnet34, resnet50');
    expect(error.message).toContain('regnet_x_32gf');
    expect(error.details).toEqual({ parameter: 'architecture' });
  });

  it('builds resnet18 at 224 px exactly as buildResNetGraph does', () => {
    const stateDict = syntheticResNetStateDict('resnet18', 5, { width: 4, classes: 10 });
    const built = architectureOf('resnet18').build(stateDict, { inputSize: 224 });
    expect(built).toMatchObject({ classes: 10, featureChannels: 32 });
    expect(encodeModel(built.graph)).toEqual(encodeModel(buildResNetGraph(stateDict)));
  });
});

describe('RegNet BlockParams.from_init_params', () => {
  it.each(Object.keys(REGNET_CONFIGS))('%s: the arguments and the stages TorchVision computes', (name) => {
    const torchvision = TORCHVISION_BLOCK_PARAMS[name];
    const config = REGNET_CONFIGS[name as RegNetName];
    expect(torchvision).toBeDefined();
    const { initParams } = torchvision!;
    expect(config).toEqual({
      depth: initParams.depth,
      w0: initParams.w_0,
      wa: initParams.w_a,
      wm: initParams.w_m,
      groupWidth: initParams.group_width,
      bottleneckMultiplier: 1,
      seRatio: initParams.se_ratio,
    });
    expect(blockParams(config)).toEqual({
      depths: torchvision!.depths,
      widths: torchvision!.widths,
      groupWidths: torchvision!.groupWidths,
      bottleneckMultipliers: torchvision!.bottleneckMultipliers,
      strides: torchvision!.strides,
      seRatio: torchvision!.seRatio ?? undefined,
    });
  });
});

describe('ResNet builders at any input size', () => {
  // A narrow stem keeps them small; ResNeXt's 3×3 is planes · width_per_group / 64 · groups wide, so it needs 16.
  it.each([
    ['resnet50', 8, 224, 7],
    ['resnext50_32x4d', 16, 64, 2],
    ['wide_resnet50_2', 8, 97, 4],
  ] as const)(
    '%s of stem width %i at %i px: features [N, 32·width, g, g] with g = %i, and logits ORT computes',
    async (name, width, size, grid) => {
      const stateDict = syntheticResNetStateDict(name, 11, { width, classes: 10 });
      const built = architectureOf(name).build(stateDict, { inputSize: size });
      const channels = 32 * width;
      expect(built.featureChannels).toBe(channels);
      expect(built.graph.outputs.map((o) => o.shape)).toEqual([
        ['N', 10],
        ['N', channels, grid, grid],
      ]);
      const session = await InferenceSession.create(encodeModel(built.graph));
      try {
        const { logits, features } = await session.run({
          input: new Tensor('float32', new Float32Array(3 * size * size).fill(0.5), [1, 3, size, size]),
        });
        expect(features?.dims).toEqual([1, channels, grid, grid]);
        expect(logits?.dims).toEqual([1, 10]);
        expect(Array.from((logits?.data ?? []) as Float32Array).every(Number.isFinite)).toBe(true);
      } finally {
        await session.release();
      }
    },
  );
});

describe('data-free int8 ranges for the ResNet family', () => {
  it.each(Object.keys(RESNET_CONFIGS))('%s: every tensor the quantiser needs gets a finite range', (name) => {
    const stateDict = syntheticResNetStateDict(name as keyof typeof RESNET_CONFIGS, 3, { width: 16, classes: 10 });
    const graph = architectureOf(name).build(stateDict, { inputSize: 64 }).graph;
    const ranges = dataFreeRanges(graph, stateDict, { architecture: name });
    for (const tensor of planQuantization(graph).rangeTensors) {
      const range = ranges.get(tensor);
      expect(range, tensor).toBeDefined();
      expect(Number.isFinite(range!.min) && Number.isFinite(range!.max) && range!.max > range!.min, tensor).toBe(true);
    }
  });

  it('refuses a RegNet (its squeeze-excitation is not modelled) with INVALID_ARGUMENT', () => {
    const error = thrownError(() =>
      dataFreeRanges(buildResNetGraph(syntheticResNetStateDict('resnet18', 1, { width: 4 })), new Map(), {
        architecture: 'regnet_y_400mf',
      }),
    );
    expect(error.code).toBe('INVALID_ARGUMENT');
    expect(error.message).toContain('resnet50');
  });

  it('quantises a ResNeXt (grouped convolutions) to a model ORT runs', async () => {
    const stateDict = syntheticResNetStateDict('resnext50_32x4d', 9, { width: 16, classes: 10 });
    const int8 = await quantizeToOnnx(stateDict, { architecture: 'resnext50_32x4d' });
    const session = await InferenceSession.create(int8);
    try {
      const { logits } = await session.run({ input: new Tensor('float32', new Float32Array(3 * 224 * 224).fill(0.25), [1, 3, 224, 224]) });
      expect(logits?.dims).toEqual([1, 10]);
      expect(Array.from((logits?.data ?? []) as Float32Array).every(Number.isFinite)).toBe(true);
    } finally {
      await session.release();
    }
  });
});
