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
  type ResidualBlock,
  residualBlock,
} from './torchvision-ops.js';
import type { Architecture, BuildOptions, BuiltArchitecture } from './types.js';

/**
 * torchvision/models/mobilenetv3.py: `MobileNetV3` with the `_mobilenet_v3_conf` tables of the MobileNetV3 paper
 * (width_mult 1, no reduced tail, no dilation, as `mobilenet_v3_large` and `mobilenet_v3_small` build it).
 */

/** One row of Tables 1 and 2 (`InvertedResidualConfig`): in, kernel, expanded, out, SE, activation, stride. */
type Bneck = readonly [number, number, number, number, boolean, 'RE' | 'HS', number];

/** BatchNorm2d(eps=0.001, momentum=0.01): TorchVision's `norm_layer` for MobileNetV3. */
const EPS = 1e-3;
const CLASSIFIER = 'classifier.3';

const LARGE: readonly Bneck[] = [
  [16, 3, 16, 16, false, 'RE', 1],
  [16, 3, 64, 24, false, 'RE', 2],
  [24, 3, 72, 24, false, 'RE', 1],
  [24, 5, 72, 40, true, 'RE', 2],
  [40, 5, 120, 40, true, 'RE', 1],
  [40, 5, 120, 40, true, 'RE', 1],
  [40, 3, 240, 80, false, 'HS', 2],
  [80, 3, 200, 80, false, 'HS', 1],
  [80, 3, 184, 80, false, 'HS', 1],
  [80, 3, 184, 80, false, 'HS', 1],
  [80, 3, 480, 112, true, 'HS', 1],
  [112, 3, 672, 112, true, 'HS', 1],
  [112, 5, 672, 160, true, 'HS', 2],
  [160, 5, 960, 160, true, 'HS', 1],
  [160, 5, 960, 160, true, 'HS', 1],
];

const SMALL: readonly Bneck[] = [
  [16, 3, 16, 16, true, 'RE', 2],
  [16, 3, 72, 24, false, 'RE', 2],
  [24, 3, 88, 24, false, 'RE', 1],
  [24, 5, 96, 40, true, 'HS', 2],
  [40, 5, 240, 40, true, 'HS', 1],
  [40, 5, 240, 40, true, 'HS', 1],
  [40, 5, 120, 48, true, 'HS', 1],
  [48, 5, 144, 48, true, 'HS', 1],
  [48, 5, 288, 96, true, 'HS', 2],
  [96, 5, 576, 96, true, 'HS', 1],
  [96, 5, 576, 96, true, 'HS', 1],
];

interface Layout {
  readonly stem: ConvNormActivation;
  readonly blocks: readonly ResidualBlock[];
  readonly last: ConvNormActivation;
  /** `last_channel`: the hidden width of the classifier. */
  readonly hidden: number;
  readonly classes: number;
}

function layout(table: readonly Bneck[], lastChannel: number, classes: number): Layout {
  const cna = (module: string, unit: Omit<ConvNormActivation, 'module' | 'stride' | 'groups'> & { stride?: number; groups?: number }) =>
    ({ module, stride: 1, groups: 1, ...unit }) satisfies ConvNormActivation;
  // `InvertedResidual`: [expand 1×1] → depthwise k×k → [SE] → project 1×1, plus the input when shapes allow.
  const blocks = table.map(([input, kernel, expanded, out, useSe, nl, stride], i): ResidualBlock => {
    const module = `features.${i + 1}`;
    const activation = nl === 'HS' ? 'hardswish' : 'relu';
    const layers: BlockLayer[] = [];
    if (expanded !== input) layers.push(cna(`${module}.block.${layers.length}`, { in: input, out: expanded, kernel: 1, activation }));
    layers.push(cna(`${module}.block.${layers.length}`, { in: expanded, out: expanded, kernel, stride, groups: expanded, activation }));
    if (useSe) {
      const squeeze = makeDivisible(Math.floor(expanded / 4), 8);
      layers.push({ module: `${module}.block.${layers.length}`, channels: expanded, squeeze, activation: 'relu', gate: 'hardsigmoid' });
    }
    layers.push(cna(`${module}.block.${layers.length}`, { in: expanded, out, kernel: 1, activation: undefined }));
    return { module, layers, residual: stride === 1 && input === out };
  });
  const first = table[0]?.[0] ?? 0;
  const lastIn = table.at(-1)?.[3] ?? 0;
  return {
    stem: cna('features.0', { in: 3, out: first, kernel: 3, stride: 2, activation: 'hardswish' }),
    blocks,
    last: cna(`features.${table.length + 1}`, { in: lastIn, out: 6 * lastIn, kernel: 1, activation: 'hardswish' }),
    hidden: lastChannel,
    classes,
  };
}

function expectedTensors(l: Layout): ExpectedTensors {
  const expected = new ExpectedTensors();
  expectConvNormActivation(expected, l.stem);
  for (const block of l.blocks) expectResidualBlock(expected, block);
  expectConvNormActivation(expected, l.last);
  return expected.linear('classifier.0', l.last.out, l.hidden).linear(CLASSIFIER, l.hidden, l.classes);
}

function mobileNetV3(name: string, table: readonly Bneck[], lastChannel: number): Architecture {
  return {
    name,
    family: 'mobilenet_v3',
    build(stateDict: StateDict, options: BuildOptions): BuiltArchitecture {
      const inputSize = integerInRange('inputSize', options.inputSize, 1);
      const l = layout(table, lastChannel, classesOf(stateDict, CLASSIFIER));
      expectedTensors(l).check(stateDict, `a torchvision ${name} (${l.classes} classes)`);
      const g = new GraphBuilder(stateDict);
      let x = convNormActivation(g, l.stem, EPS, INPUT_NAME);
      for (const block of l.blocks) x = residualBlock(g, block, EPS, x);
      x = convNormActivation(g, l.last, EPS, x);
      x = g.globalAveragePool(x);
      // classifier.2 is Dropout: the identity in eval mode.
      x = g.activation('hardswish', 'classifier.1', g.linear('classifier.0', x));
      g.linear(CLASSIFIER, x, OUTPUT_NAME);
      // No `features`: a class activation map Σ_c w_kc·F_c(i, j) averages to logit k only when the logits are
      // linear in the pooled features. Here they pass through Linear → Hardswish → Linear, so the map of the
      // pooled tensor would not add up to the logit (a nonlinear head): the server answers EXPLAIN_UNAVAILABLE.
      return { graph: g.finish(name, { inputSize, classes: l.classes }), classes: l.classes, featureChannels: undefined };
    },
  };
}

/**
 * `mobilenet_v3_large` (5.5M parameters; last_channel 1280) and `mobilenet_v3_small` (2.5M; last_channel 1024):
 * Hardswish, squeeze-excitation with Hardsigmoid, BatchNorm eps 0.001, head avgpool → Linear → Hardswish →
 * Dropout → Linear.
 */
export const MOBILENET_V3: readonly Architecture[] = [
  mobileNetV3('mobilenet_v3_large', LARGE, makeDivisible(1280, 8)),
  mobileNetV3('mobilenet_v3_small', SMALL, makeDivisible(1024, 8)),
];
