/**
 * The torchvision RegNet family's topology as data (torchvision/models/regnet.py: `BlockParams.from_init_params`,
 * `SimpleStemIN`, `AnyStage`, `ResBottleneckBlock`, `BottleneckTransform`, and the fifteen builders).
 */
import { ExpectedTensors } from './expected-tensors.js';
import {
  type ConvNormActivation,
  expectConvNormActivation,
  expectSqueezeExcitation,
  makeDivisible,
  type SqueezeExcitation,
} from './torchvision-ops.js';

/** One builder's arguments to `BlockParams.from_init_params` (torchvision 0.29 regnet.py). */
export interface RegNetConfig {
  readonly depth: number;
  readonly w0: number;
  readonly wa: number;
  readonly wm: number;
  readonly groupWidth: number;
  /** 1.0 for every torchvision builder. */
  readonly bottleneckMultiplier: number;
  /** Squeeze-excitation width as a share of the block's input width: 0.25 for RegNetY, none for RegNetX. */
  readonly seRatio: number | undefined;
}

const regnet = (depth: number, w0: number, wa: number, wm: number, groupWidth: number, seRatio?: number): RegNetConfig =>
  Object.freeze({ depth, w0, wa, wm, groupWidth, bottleneckMultiplier: 1, seRatio });

/** Every torchvision RegNet builder, by its name. */
export const REGNET_CONFIGS = Object.freeze({
  regnet_y_400mf: regnet(16, 48, 27.89, 2.09, 8, 0.25),
  regnet_y_800mf: regnet(14, 56, 38.84, 2.4, 16, 0.25),
  regnet_y_1_6gf: regnet(27, 48, 20.71, 2.65, 24, 0.25),
  regnet_y_3_2gf: regnet(21, 80, 42.63, 2.66, 24, 0.25),
  regnet_y_8gf: regnet(17, 192, 76.82, 2.19, 56, 0.25),
  regnet_y_16gf: regnet(18, 200, 106.23, 2.48, 112, 0.25),
  regnet_y_32gf: regnet(20, 232, 115.89, 2.53, 232, 0.25),
  regnet_y_128gf: regnet(27, 456, 160.83, 2.52, 264, 0.25),
  regnet_x_400mf: regnet(22, 24, 24.48, 2.54, 16),
  regnet_x_800mf: regnet(16, 56, 35.73, 2.28, 16),
  regnet_x_1_6gf: regnet(18, 80, 34.01, 2.25, 24),
  regnet_x_3_2gf: regnet(25, 88, 26.31, 2.25, 48),
  regnet_x_8gf: regnet(23, 80, 49.56, 2.88, 120),
  regnet_x_16gf: regnet(22, 216, 55.59, 2.1, 128),
  regnet_x_32gf: regnet(23, 320, 69.86, 2.0, 168),
} satisfies Record<string, RegNetConfig>);

export type RegNetName = keyof typeof REGNET_CONFIGS;

/** torchvision `BlockParams`: per stage, as `_get_expanded_params` zips them. */
export interface BlockParams {
  readonly depths: readonly number[];
  readonly widths: readonly number[];
  readonly groupWidths: readonly number[];
  readonly bottleneckMultipliers: readonly number[];
  readonly strides: readonly number[];
  readonly seRatio: number | undefined;
}

/** `from_init_params`'s constants: widths are multiples of 8, every stage halves the map. */
const QUANT = 8;
const STAGE_STRIDE = 2;
const f32 = Math.fround;

/**
 * `BlockParams.from_init_params`, step for step. Its first part runs on float32 torch tensors
 * (`torch.arange(depth) * w_a + w_0`, `torch.log`, `torch.pow`, `torch.round`), so it is computed here in float32
 * too (each operation rounded with Math.fround, Python scalars cast to float32 as torch's CPU kernels cast them)
 * with round-half-to-even; the stage split and `_adjust_widths_groups_compatibilty` are Python float64 arithmetic.
 * test/fixtures/arch/regnet-block-params.json holds TorchVision's own results for every builder.
 */
export function blockParams(config: RegNetConfig): BlockParams {
  const { depth, w0, wa, wm } = config;
  const logWm = f32(Math.log(wm));
  const blockWidths = Array.from({ length: depth }, (_, i) => {
    const widthCont = f32(f32(i * f32(wa)) + w0);
    const capacity = roundHalfEven(f32(f32(Math.log(f32(widthCont / w0))) / logWm));
    const width = f32(w0 * f32(f32(wm) ** capacity));
    return roundHalfEven(f32(width / QUANT)) * QUANT;
  });
  const numStages = new Set(blockWidths).size;
  // A stage starts where the width changes; its depth runs to the next change.
  const starts = blockWidths.flatMap((w, i) => (i === 0 || w !== blockWidths[i - 1] ? [i] : []));
  const stageWidths = starts.map((i) => blockWidths[i] as number);
  const stageDepths = starts.map((start, s) => (starts[s + 1] ?? depth) - start);
  const multipliers = Array.from({ length: numStages }, () => config.bottleneckMultiplier);
  // _adjust_widths_groups_compatibilty: the bottleneck width a multiple of its group width, the stage width from it.
  const stages = Math.min(numStages, stageWidths.length);
  const bottlenecks = stageWidths.slice(0, stages).map((w, s) => Math.trunc(w * (multipliers[s] as number)));
  const groupWidths = bottlenecks.map((wb) => Math.min(config.groupWidth, wb));
  const widths = bottlenecks.map((wb, s) => Math.trunc(makeDivisible(wb, groupWidths[s] as number) / (multipliers[s] as number)));
  return {
    depths: stageDepths.slice(0, stages),
    widths,
    groupWidths,
    bottleneckMultipliers: multipliers.slice(0, stages),
    strides: Array.from({ length: stages }, () => STAGE_STRIDE),
    seRatio: config.seRatio,
  };
}

/** torch.round and Python's round(): halves go to the even neighbour. */
function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/** `ResBottleneckBlock`: relu(proj(x) or x + f(x)), f = a (1×1) → b (3×3 grouped, strided) → [se] → c (1×1). */
export interface RegNetBlock {
  /** Module path, e.g. 'trunk_output.block2.block2-0'. */
  readonly name: string;
  readonly proj: ConvNormActivation | undefined;
  readonly a: ConvNormActivation;
  readonly b: ConvNormActivation;
  /** RegNetY's `SqueezeExcitation(w_b, round(se_ratio · width_in))`, ReLU then Sigmoid. */
  readonly se: SqueezeExcitation | undefined;
  readonly c: ConvNormActivation;
}

export interface RegNetLayout {
  readonly classes: number;
  /** `SimpleStemIN(3, 32)`: 3×3 stride 2, BN, ReLU. */
  readonly stem: ConvNormActivation;
  readonly blocks: readonly RegNetBlock[];
  /** Channels of trunk_output's output, which `avgpool` reads and `fc` takes. */
  readonly featureChannels: number;
}

/** `RegNet(stem_width=32)`. */
const STEM_WIDTH = 32;

export function regnetLayout(config: RegNetConfig, classes: number): RegNetLayout {
  const params = blockParams(config);
  // Conv2dNormActivation(…, norm_layer=BatchNorm2d, activation_layer=ReLU or None).
  const unit = (module: string, from: number, to: number, kernel: number, stride = 1, groups = 1, relu = true): ConvNormActivation => ({
    module,
    in: from,
    out: to,
    kernel,
    stride,
    groups,
    activation: relu ? 'relu' : undefined,
  });
  const blocks: RegNetBlock[] = [];
  let current = STEM_WIDTH;
  params.widths.forEach((widthOut, s) => {
    const stage = `trunk_output.block${s + 1}`;
    for (let i = 0; i < (params.depths[s] as number); i++) {
      const name = `${stage}.block${s + 1}-${i}`;
      const widthIn = i === 0 ? current : widthOut;
      const stride = i === 0 ? (params.strides[s] as number) : 1;
      // BottleneckTransform: w_b = int(round(width_out * bottleneck_multiplier)), g = w_b // group_width.
      const wb = roundHalfEven(widthOut * (params.bottleneckMultipliers[s] as number));
      const groups = Math.floor(wb / (params.groupWidths[s] as number));
      blocks.push({
        name,
        proj: widthIn !== widthOut || stride !== 1 ? unit(`${name}.proj`, widthIn, widthOut, 1, stride, 1, false) : undefined,
        a: unit(`${name}.f.a`, widthIn, wb, 1),
        b: unit(`${name}.f.b`, wb, wb, 3, stride, groups),
        se:
          params.seRatio === undefined
            ? undefined
            : {
                module: `${name}.f.se`,
                channels: wb,
                squeeze: roundHalfEven(params.seRatio * widthIn),
                activation: 'relu',
                gate: 'sigmoid',
              },
        c: unit(`${name}.f.c`, wb, widthOut, 1, 1, 1, false),
      });
    }
    current = widthOut;
  });
  return { classes, stem: unit('stem', 3, STEM_WIDTH, 3, 2), blocks, featureChannels: current };
}

/** The tensors of a torchvision RegNet state_dict with their shapes, in torchvision's order. */
export function regnetTensors(layout: RegNetLayout): ExpectedTensors {
  const tensors = new ExpectedTensors();
  expectConvNormActivation(tensors, layout.stem);
  for (const block of layout.blocks) {
    for (const unit of [block.proj, block.a, block.b]) if (unit !== undefined) expectConvNormActivation(tensors, unit);
    if (block.se !== undefined) expectSqueezeExcitation(tensors, block.se);
    expectConvNormActivation(tensors, block.c);
  }
  return tensors.linear('fc', layout.featureChannels, layout.classes);
}
