import { integerInRange } from '../../guards.js';
import type { StateDict } from '../../weights/types.js';
import { classesOf, ExpectedTensors } from './expected-tensors.js';
import { GraphBuilder, INPUT_NAME, OUTPUT_NAME } from './graph-builder.js';
import {
  type BlockLayer,
  type ConvNormActivation,
  convNormActivation,
  expectConvNormActivation,
  expectResidualBlock,
  makeDivisible,
  outputSize,
  type ResidualBlock,
  residualBlock,
} from './torchvision-ops.js';
import type { Architecture, BuildOptions, BuiltArchitecture } from './types.js';

/**
 * torchvision/models/efficientnet.py: `EfficientNet` with the `_efficientnet_conf` tables (Table 1 of the
 * EfficientNet paper, Table 4 of EfficientNetV2's), as `efficientnet_b0` … `efficientnet_b7` and
 * `efficientnet_v2_s/m/l` build them. Stochastic depth and dropout are the identity in eval mode.
 */

/** One stage: expand ratio, kernel, stride, in, out, layers; `fused` for V2's FusedMBConv stages. */
interface StageConfig {
  readonly block: 'mbconv' | 'fused';
  readonly expand: number;
  readonly kernel: number;
  readonly stride: number;
  readonly in: number;
  readonly out: number;
  readonly layers: number;
}

interface EfficientNetConfig {
  readonly stages: readonly StageConfig[];
  /** `last_channel`; undefined: 4 × the last stage's width (V1). */
  readonly lastChannel: number | undefined;
  /** BatchNorm2d eps of the builder's `norm_layer`. */
  readonly eps: number;
  /** torchvision `min_size` of the weights' meta. */
  readonly minSize: number;
}

const mb = (expand: number, kernel: number, stride: number, input: number, out: number, layers: number): StageConfig => ({
  block: 'mbconv',
  expand,
  kernel,
  stride,
  in: input,
  out,
  layers,
});
const fused = (expand: number, kernel: number, stride: number, input: number, out: number, layers: number): StageConfig => ({
  ...mb(expand, kernel, stride, input, out, layers),
  block: 'fused',
});

const V1_STAGES = [
  mb(1, 3, 1, 32, 16, 1),
  mb(6, 3, 2, 16, 24, 2),
  mb(6, 5, 2, 24, 40, 2),
  mb(6, 3, 2, 40, 80, 3),
  mb(6, 5, 1, 80, 112, 3),
  mb(6, 5, 2, 112, 192, 4),
  mb(6, 3, 1, 192, 320, 1),
];

/** `MBConvConfig(width_mult, depth_mult)`: channels through `_make_divisible(c × width, 8)`, layers ceil(n × depth). */
function v1(widthMult: number, depthMult: number, eps: number): EfficientNetConfig {
  const stages = V1_STAGES.map((s) => ({
    ...s,
    in: makeDivisible(s.in * widthMult, 8),
    out: makeDivisible(s.out * widthMult, 8),
    layers: Math.ceil(s.layers * depthMult),
  }));
  return { stages, lastChannel: undefined, eps, minSize: 1 };
}

/** nn.BatchNorm2d's default eps for b0–b4 (ported from rwightman's weights); 0.001 for b5–b7 (lukemelas') and V2. */
const BN_EPS = 1e-5;
const TF_EPS = 1e-3;
const V2_LAST_CHANNEL = 1280;
const V2_MIN_SIZE = 33;

const CONFIGS: Readonly<Record<string, EfficientNetConfig>> = {
  efficientnet_b0: v1(1.0, 1.0, BN_EPS),
  efficientnet_b1: v1(1.0, 1.1, BN_EPS),
  efficientnet_b2: v1(1.1, 1.2, BN_EPS),
  efficientnet_b3: v1(1.2, 1.4, BN_EPS),
  efficientnet_b4: v1(1.4, 1.8, BN_EPS),
  efficientnet_b5: v1(1.6, 2.2, TF_EPS),
  efficientnet_b6: v1(1.8, 2.6, TF_EPS),
  efficientnet_b7: v1(2.0, 3.1, TF_EPS),
  efficientnet_v2_s: {
    stages: [
      fused(1, 3, 1, 24, 24, 2),
      fused(4, 3, 2, 24, 48, 4),
      fused(4, 3, 2, 48, 64, 4),
      mb(4, 3, 2, 64, 128, 6),
      mb(6, 3, 1, 128, 160, 9),
      mb(6, 3, 2, 160, 256, 15),
    ],
    lastChannel: V2_LAST_CHANNEL,
    eps: TF_EPS,
    minSize: V2_MIN_SIZE,
  },
  efficientnet_v2_m: {
    stages: [
      fused(1, 3, 1, 24, 24, 3),
      fused(4, 3, 2, 24, 48, 5),
      fused(4, 3, 2, 48, 80, 5),
      mb(4, 3, 2, 80, 160, 7),
      mb(6, 3, 1, 160, 176, 14),
      mb(6, 3, 2, 176, 304, 18),
      mb(6, 3, 1, 304, 512, 5),
    ],
    lastChannel: V2_LAST_CHANNEL,
    eps: TF_EPS,
    minSize: V2_MIN_SIZE,
  },
  efficientnet_v2_l: {
    stages: [
      fused(1, 3, 1, 32, 32, 4),
      fused(4, 3, 2, 32, 64, 7),
      fused(4, 3, 2, 64, 96, 7),
      mb(4, 3, 2, 96, 192, 10),
      mb(6, 3, 1, 192, 224, 19),
      mb(6, 3, 2, 224, 384, 25),
      mb(6, 3, 1, 384, 640, 7),
    ],
    lastChannel: V2_LAST_CHANNEL,
    eps: TF_EPS,
    minSize: V2_MIN_SIZE,
  },
};

const CLASSIFIER = 'classifier.1';

interface Layout {
  readonly stem: ConvNormActivation;
  readonly blocks: readonly ResidualBlock[];
  readonly last: ConvNormActivation;
  readonly classes: number;
}

/** `MBConv` or `FusedMBConv`, once the stage has given the block its input width and stride. */
function block(module: string, stage: StageConfig, input: number, stride: number): ResidualBlock {
  const layers: BlockLayer[] = [];
  const add = (unit: Omit<ConvNormActivation, 'module' | 'groups'> & { groups?: number }): void => {
    layers.push({ module: `${module}.block.${layers.length}`, groups: 1, ...unit });
  };
  const expanded = makeDivisible(input * stage.expand, 8);
  const { kernel, out } = stage;
  if (stage.block === 'fused') {
    if (expanded === input) add({ in: input, out, kernel, stride, activation: 'silu' });
    else {
      add({ in: input, out: expanded, kernel, stride, activation: 'silu' });
      add({ in: expanded, out, kernel: 1, stride: 1, activation: undefined });
    }
  } else {
    if (expanded !== input) add({ in: input, out: expanded, kernel: 1, stride: 1, activation: 'silu' });
    add({ in: expanded, out: expanded, kernel, stride, groups: expanded, activation: 'silu' });
    const squeeze = Math.max(1, Math.floor(input / 4));
    layers.push({ module: `${module}.block.${layers.length}`, channels: expanded, squeeze, activation: 'silu', gate: 'sigmoid' });
    add({ in: expanded, out, kernel: 1, stride: 1, activation: undefined });
  }
  return { module, layers, residual: stride === 1 && input === out };
}

function layout(config: EfficientNetConfig, classes: number): Layout {
  const blocks: ResidualBlock[] = [];
  for (const [s, stage] of config.stages.entries()) {
    for (let i = 0; i < stage.layers; i++) {
      // EfficientNet.__init__: every block after a stage's first takes the stage's output width and stride 1.
      blocks.push(block(`features.${s + 1}.${i}`, stage, i === 0 ? stage.in : stage.out, i === 0 ? stage.stride : 1));
    }
  }
  const first = config.stages[0]?.in ?? 0;
  const lastIn = config.stages.at(-1)?.out ?? 0;
  return {
    stem: { module: 'features.0', in: 3, out: first, kernel: 3, stride: 2, groups: 1, activation: 'silu' },
    blocks,
    last: {
      module: `features.${config.stages.length + 1}`,
      in: lastIn,
      out: config.lastChannel ?? 4 * lastIn,
      kernel: 1,
      stride: 1,
      groups: 1,
      activation: 'silu',
    },
    classes,
  };
}

function expectedTensors(l: Layout): ExpectedTensors {
  const expected = new ExpectedTensors();
  expectConvNormActivation(expected, l.stem);
  for (const b of l.blocks) expectResidualBlock(expected, b);
  expectConvNormActivation(expected, l.last);
  return expected.linear(CLASSIFIER, l.last.out, l.classes);
}

function efficientNet(name: string, config: EfficientNetConfig): Architecture {
  return {
    name,
    family: 'efficientnet',
    build(stateDict: StateDict, options: BuildOptions): BuiltArchitecture {
      const inputSize = integerInRange('inputSize', options.inputSize, config.minSize);
      const l = layout(config, classesOf(stateDict, CLASSIFIER));
      expectedTensors(l).check(stateDict, `a torchvision ${name} (${l.classes} classes)`);
      const g = new GraphBuilder(stateDict);
      let x = convNormActivation(g, l.stem, config.eps, INPUT_NAME);
      for (const b of l.blocks) x = residualBlock(g, b, config.eps, x);
      x = convNormActivation(g, l.last, config.eps, x);
      // The head is avgpool → Dropout (identity in eval) → Linear: linear in the pooled features, so the class
      // activation map of `features` averages exactly to each logit.
      g.features(x);
      g.linear(CLASSIFIER, g.globalAveragePool(x), OUTPUT_NAME);
      const features = { channels: l.last.out, grid: outputSize(inputSize, [l.stem, ...l.blocks.flatMap((b) => b.layers)]) };
      return { graph: g.finish(name, { inputSize, classes: l.classes, features }), classes: l.classes, featureChannels: l.last.out };
    },
  };
}

/** `efficientnet_b0` … `efficientnet_b7`, `efficientnet_v2_s`, `efficientnet_v2_m`, `efficientnet_v2_l`. */
export const EFFICIENTNET: readonly Architecture[] = Object.entries(CONFIGS).map(([name, config]) => efficientNet(name, config));
