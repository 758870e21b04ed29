import type { ExpectedTensors } from './expected-tensors.js';
import type { Activation, GraphBuilder, SqueezeExcitationSpec } from './graph-builder.js';

/**
 * The building blocks MobileNetV3 and EfficientNet share, as torchvision/ops/misc.py and models/_utils.py define
 * them: their tensors for the state_dict check and their nodes for the graph, from one description.
 */

/** torchvision.ops.Conv2dNormActivation with a BatchNorm2d: `<module>.0` the bias-free conv, `<module>.1` the norm. */
export interface ConvNormActivation {
  readonly module: string;
  readonly in: number;
  readonly out: number;
  readonly kernel: number;
  readonly stride: number;
  /** Depthwise when equal to `in`. */
  readonly groups: number;
  /** undefined: none (the projection of an inverted residual). */
  readonly activation: Activation | undefined;
}

export function expectConvNormActivation(expected: ExpectedTensors, unit: ConvNormActivation): void {
  expected.conv(`${unit.module}.0`, { in: unit.in, out: unit.out, kernel: unit.kernel, groups: unit.groups });
  expected.batchNorm(`${unit.module}.1`, unit.out);
}

/** Conv with its BatchNorm (epsilon `eps`) folded, then the activation, named `<module>.2` as TorchVision's. */
export function convNormActivation(g: GraphBuilder, unit: ConvNormActivation, eps: number, input: string): string {
  const x = g.convBn({ conv: `${unit.module}.0`, bn: `${unit.module}.1`, stride: unit.stride, groups: unit.groups, eps }, input);
  return unit.activation === undefined ? x : g.activation(unit.activation, `${unit.module}.2`, x);
}

/** torchvision.ops.SqueezeExcitation(channels, squeeze): two 1×1 convolutions with biases. */
export interface SqueezeExcitation extends SqueezeExcitationSpec {
  readonly channels: number;
  readonly squeeze: number;
}

export function expectSqueezeExcitation(expected: ExpectedTensors, se: SqueezeExcitation): void {
  expected.conv(`${se.module}.fc1`, { in: se.channels, out: se.squeeze, kernel: 1, bias: true });
  expected.conv(`${se.module}.fc2`, { in: se.squeeze, out: se.channels, kernel: 1, bias: true });
}

/**
 * torchvision/models/_utils.py `_make_divisible` (from TensorFlow's MobileNet): `v` rounded to the nearest multiple
 * of `divisor`, at least `minValue`, and never more than 10% below `v`.
 */
export function makeDivisible(v: number, divisor: number, minValue: number = divisor): number {
  const rounded = Math.max(minValue, Math.floor(Math.floor(v + divisor / 2) / divisor) * divisor);
  return rounded < 0.9 * v ? rounded + divisor : rounded;
}

/** Side of a convolution's output: floor((n + 2·pad − kernel) / stride) + 1, PyTorch's and ONNX's rule. */
export function convOutputSize(n: number, kernel: number, stride: number, pad: number = (kernel - 1) / 2): number {
  return Math.floor((n + 2 * pad - kernel) / stride) + 1;
}

/** A layer of an inverted-residual block's `block` Sequential. */
export type BlockLayer = ConvNormActivation | SqueezeExcitation;

/** MobileNetV3's `InvertedResidual`, EfficientNet's `MBConv` and `FusedMBConv`: `<module>.block` then the skip. */
export interface ResidualBlock {
  /** Module path, e.g. `features.3.1`; its layers are `<module>.block.<i>`. */
  readonly module: string;
  readonly layers: readonly BlockLayer[];
  /** `use_res_connect`: stride 1 and as many channels out as in. */
  readonly residual: boolean;
}

function isSqueezeExcitation(layer: BlockLayer): layer is SqueezeExcitation {
  return 'squeeze' in layer;
}

export function expectResidualBlock(expected: ExpectedTensors, block: ResidualBlock): void {
  for (const layer of block.layers) {
    if (isSqueezeExcitation(layer)) expectSqueezeExcitation(expected, layer);
    else expectConvNormActivation(expected, layer);
  }
}

/** The block's layers, then `+ input` when residual (stochastic depth before it is the identity in eval mode). */
export function residualBlock(g: GraphBuilder, block: ResidualBlock, eps: number, input: string): string {
  let x = input;
  for (const layer of block.layers) x = isSqueezeExcitation(layer) ? g.squeezeExcitation(layer, x) : convNormActivation(g, layer, eps, x);
  return block.residual ? g.node('Add', `${block.module}.add`, [x, input]) : x;
}

/** Side of the map after `units` (the convolutions in forward order) for a square input of side `inputSize`. */
export function outputSize(inputSize: number, units: readonly BlockLayer[]): number {
  return units.reduce((n, unit) => (isSqueezeExcitation(unit) ? n : convOutputSize(n, unit.kernel, unit.stride)), inputSize);
}
