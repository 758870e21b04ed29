import { ResnetServeError } from '../../errors.js';
import type { StateDict } from '../../weights/types.js';
import { FEATURES_NAME } from '../features.js';
import { BATCH_NORM_EPS, foldBatchNorm } from '../fold-batchnorm.js';
import { attr, type OnnxAttribute, type OnnxGraph, type OnnxNode, type OnnxTensor } from '../onnx/graph.js';

/** Graph input: float32 [N, 3, S, S], normalised as the weights' recipe says. */
export const INPUT_NAME = 'input';
/** Graph output: float32 [N, classes], pre-softmax. */
export const OUTPUT_NAME = 'logits';
/** Symbolic batch dimension, so one model serves any batch size. */
export const BATCH_DIM = 'N';

/** A convolution as TorchVision declares it; the weight's shape gives channels and kernel. */
export interface ConvSpec {
  /** Module path of the Conv2d, e.g. `features.1.block.0.0`. */
  readonly conv: string;
  readonly stride?: number;
  /** Default: `(kernel - 1) / 2 × dilation`, TorchVision's "same" padding for odd kernels. */
  readonly pad?: number;
  readonly groups?: number;
  readonly dilation?: number;
}

/**
 * Activations as TorchVision's modules name them, each written with the ONNX operators ORT runs fastest:
 * nn.Hardswish → HardSwish (opset 14), nn.Hardsigmoid → HardSigmoid(α = 1/6, β = 1/2), nn.SiLU → Sigmoid · x
 * (the pattern torch.onnx exports), nn.GELU → the exact erf form (ORT's GeluFusion makes it one Gelu kernel).
 */
export type Activation = 'relu' | 'hardswish' | 'hardsigmoid' | 'sigmoid' | 'silu' | 'gelu';

/** torchvision.ops.SqueezeExcitation: avgpool → fc1 (1×1 conv) → activation → fc2 → scale activation → × input. */
export interface SqueezeExcitationSpec {
  /** Module path, e.g. `features.4.block.2`; its convolutions are `<module>.fc1` and `<module>.fc2`. */
  readonly module: string;
  /** torchvision's `activation` (default nn.ReLU; EfficientNet passes nn.SiLU). */
  readonly activation: Activation;
  /** torchvision's `scale_activation` (default nn.Sigmoid; MobileNetV3 passes nn.Hardsigmoid). */
  readonly gate: Activation;
}

/** A convolution followed by the BatchNorm2d folded into it. */
export interface ConvBnSpec extends ConvSpec {
  /** Module path of the BatchNorm2d, e.g. `features.1.block.0.1`. */
  readonly bn: string;
  /** Default 1e-5 (BatchNorm2d's); TorchVision's EfficientNet and MobileNetV3 use 1e-3. */
  readonly eps?: number;
}

/**
 * Writes an ONNX graph from a checked state_dict, one node at a time, in forward order: the one place
 * architectures read tensors, fold BatchNorm and name nodes. Node names are TorchVision module paths (quantisation
 * and the classifier-head reader find layers by them); folded initializers are `<conv>.weight` / `<conv>.bias`.
 * Only plain ONNX operators are emitted: ORT's optimiser fuses Conv+activation+Add at session creation.
 */
export class GraphBuilder {
  readonly #stateDict: StateDict;
  readonly #initializers = new Map<string, OnnxTensor>();
  readonly #nodes: OnnxNode[] = [];

  /** @param stateDict - already checked against the architecture's tensor shapes. */
  constructor(stateDict: StateDict) {
    this.#stateDict = stateDict;
  }

  /** Appends a node; returns its output's name (`<name>.out` unless given). */
  node(
    opType: string,
    name: string,
    inputs: readonly string[],
    attributes: Readonly<Record<string, OnnxAttribute>> = {},
    output = `${name}.out`,
  ): string {
    this.#nodes.push({ opType, name, inputs, outputs: [output], attributes });
    return output;
  }

  /** A float tensor of the checked state_dict. */
  float(key: string): Float32Array {
    const data = this.#stateDict.get(key)?.data;
    if (!(data instanceof Float32Array)) throw new ResnetServeError('INTERNAL', `The checked state_dict lost its float tensor ${key}.`);
    return data;
  }

  /** The shape of a tensor of the checked state_dict. */
  shape(key: string): readonly number[] {
    const shape = this.#stateDict.get(key)?.shape;
    if (shape === undefined) throw new ResnetServeError('INTERNAL', `The checked state_dict lost its tensor ${key}.`);
    return shape;
  }

  /** Adds a constant; returns its name. */
  initializer(name: string, dims: readonly number[], data: Float32Array): string {
    this.#initializers.set(name, { dtype: 'float32', dims, data });
    return name;
  }

  /** A state_dict tensor as a constant of the same name and shape (no copy). */
  constant(key: string, dims: readonly number[] = this.shape(key)): string {
    return this.initializer(key, dims, this.float(key));
  }

  /** Conv2d with BatchNorm folded into its weight and bias (a bias-free Conv2d, as TorchVision's are). */
  convBn(spec: ConvBnSpec, input: string): string {
    const folded = foldBatchNorm(
      this.float(`${spec.conv}.weight`),
      {
        weight: this.float(`${spec.bn}.weight`),
        bias: this.float(`${spec.bn}.bias`),
        runningMean: this.float(`${spec.bn}.running_mean`),
        runningVar: this.float(`${spec.bn}.running_var`),
      },
      spec.eps ?? BATCH_NORM_EPS,
    );
    const dims = this.shape(`${spec.conv}.weight`);
    const weight = this.initializer(`${spec.conv}.weight`, dims, folded.weight);
    const bias = this.initializer(`${spec.conv}.bias`, [dims[0] as number], folded.bias);
    return this.node('Conv', spec.conv, [input, weight, bias], convAttributes(spec, dims));
  }

  /** Conv2d with the state_dict's own weight and, when present, bias (squeeze-excitation's 1×1 convolutions). */
  conv(spec: ConvSpec, input: string): string {
    const dims = this.shape(`${spec.conv}.weight`);
    const inputs = [input, this.constant(`${spec.conv}.weight`)];
    if (this.#stateDict.has(`${spec.conv}.bias`)) inputs.push(this.constant(`${spec.conv}.bias`));
    return this.node('Conv', spec.conv, inputs, convAttributes(spec, dims));
  }

  /** Appends `kind` applied to `input`; `name` is the activation's module path (`features.0.2`). */
  activation(kind: Activation, name: string, input: string): string {
    switch (kind) {
      case 'relu':
        return this.node('Relu', name, [input]);
      case 'hardswish':
        return this.node('HardSwish', name, [input]);
      case 'hardsigmoid':
        // nn.Hardsigmoid is relu6(x + 3) / 6; ONNX's default slope is 0.2, Keras's.
        return this.node('HardSigmoid', name, [input], { alpha: attr.float(1 / 6), beta: attr.float(0.5) });
      case 'sigmoid':
        return this.node('Sigmoid', name, [input]);
      case 'silu':
        return this.node('Mul', name, [input, this.node('Sigmoid', `${name}.sigmoid`, [input])]);
      case 'gelu': {
        // nn.GELU() (approximate='none'): x · ½(1 + erf(x / √2)), in the order GeluFusion matches.
        const erf = this.node('Erf', `${name}.erf`, [this.node('Div', `${name}.div`, [input, this.scalar('gelu.sqrt2', Math.SQRT2)])]);
        const half = this.node('Mul', `${name}.mul`, [input, this.node('Add', `${name}.add`, [erf, this.scalar('gelu.one', 1)])]);
        return this.node('Mul', name, [half, this.scalar('gelu.half', 0.5)]);
      }
    }
  }

  /** torchvision.ops.SqueezeExcitation on an NCHW `input`. */
  squeezeExcitation(spec: SqueezeExcitationSpec, input: string): string {
    const { module } = spec;
    let scale = this.node('GlobalAveragePool', `${module}.avgpool`, [input]);
    scale = this.activation(spec.activation, `${module}.activation`, this.conv({ conv: `${module}.fc1` }, scale));
    scale = this.activation(spec.gate, `${module}.scale_activation`, this.conv({ conv: `${module}.fc2` }, scale));
    return this.node('Mul', module, [input, scale]);
  }

  /**
   * nn.LayerNorm over the last axis (LayerNormalization, opset 17), with the state_dict's `weight` and `bias`.
   * @param eps - TorchVision's ConvNeXt uses 1e-6.
   */
  layerNorm(module: string, input: string, eps: number): string {
    return this.node('LayerNormalization', module, [input, this.constant(`${module}.weight`), this.constant(`${module}.bias`)], {
      axis: attr.int(-1),
      epsilon: attr.float(eps),
    });
  }

  /** ConvNeXt's LayerNorm2d: permute NCHW → NHWC, LayerNorm over channels, permute back. */
  layerNorm2d(module: string, input: string, eps: number): string {
    const channelsLast = this.transpose(`${module}.permute`, input, CHANNELS_LAST);
    return this.transpose(`${module}.unpermute`, this.layerNorm(module, channelsLast, eps), CHANNELS_FIRST);
  }

  /** torch.permute. */
  transpose(name: string, input: string, perm: readonly number[]): string {
    return this.node('Transpose', name, [input], { perm: attr.ints(perm) });
  }

  /**
   * nn.Linear on the last axis of an N-d tensor (ConvNeXt's blocks, on NHWC): MatMul by the transposed weight, then
   * Add the bias. `scale` (per output feature) multiplies both, folding a following per-channel product such as
   * ConvNeXt's layer_scale into the weights as BatchNorm is folded (float64, rounded once).
   */
  linearLastAxis(module: string, input: string, scale?: Float32Array): string {
    const [outFeatures = 0, inFeatures = 0] = this.shape(`${module}.weight`);
    const weight = this.float(`${module}.weight`);
    const bias = this.float(`${module}.bias`);
    const transposed = new Float32Array(weight.length);
    for (let o = 0; o < outFeatures; o++) {
      const s = scale === undefined ? 1 : (scale[o] as number);
      for (let i = 0; i < inFeatures; i++) transposed[i * outFeatures + o] = (weight[o * inFeatures + i] as number) * s;
    }
    const scaledBias = scale === undefined ? bias : bias.map((b, o) => b * (scale[o] as number));
    const product = this.node('MatMul', `${module}.matmul`, [
      input,
      this.initializer(`${module}.weight`, [inFeatures, outFeatures], transposed),
    ]);
    return this.node('Add', module, [product, this.initializer(`${module}.bias`, [outFeatures], scaledBias)]);
  }

  /** nn.AdaptiveAvgPool2d(1) then torch.flatten(x, 1): NCHW → [N, C], named as TorchVision's `avgpool`. */
  globalAveragePool(input: string): string {
    return this.node('Flatten', 'flatten', [this.node('GlobalAveragePool', 'avgpool', [input])], { axis: attr.int(1) });
  }

  /** A float32 scalar constant, shared by every node that names it. */
  scalar(name: string, value: number): string {
    return this.initializer(name, [], Float32Array.of(value));
  }

  /** nn.Linear on [N, in]: Gemm with transB, sharing the state_dict's arrays. */
  linear(module: string, input: string, output?: string): string {
    return this.node(
      'Gemm',
      module,
      [input, this.constant(`${module}.weight`), this.constant(`${module}.bias`)],
      { transB: attr.int(1) },
      output,
    );
  }

  /**
   * Exposes `input` as the graph output `features`, through an Identity so that quantisation exposes its
   * dequantised form and the nodes before it still fuse.
   */
  features(input: string): string {
    return this.node('Identity', FEATURES_NAME, [input], {}, FEATURES_NAME);
  }

  /**
   * The finished graph: input `input` [N, 3, inputSize, inputSize]; outputs `logits` (the last node must write
   * {@link OUTPUT_NAME}) and, when `features` is given, `features` [N, channels, grid, grid].
   */
  finish(name: string, options: { inputSize: number; classes: number; features?: { channels: number; grid: number } }): OnnxGraph {
    const { inputSize, classes, features } = options;
    return {
      name,
      inputs: [{ name: INPUT_NAME, elemType: 'float32', shape: [BATCH_DIM, 3, inputSize, inputSize] }],
      outputs: [
        { name: OUTPUT_NAME, elemType: 'float32', shape: [BATCH_DIM, classes] },
        ...(features === undefined
          ? []
          : [{ name: FEATURES_NAME, elemType: 'float32' as const, shape: [BATCH_DIM, features.channels, features.grid, features.grid] }]),
      ],
      initializers: this.#initializers,
      nodes: this.#nodes,
    };
  }
}

const CHANNELS_LAST = [0, 2, 3, 1] as const;
const CHANNELS_FIRST = [0, 3, 1, 2] as const;

function convAttributes(spec: ConvSpec, dims: readonly number[]): Record<string, OnnxAttribute> {
  const kernel = dims[2] as number;
  const dilation = spec.dilation ?? 1;
  const pad = spec.pad ?? ((kernel - 1) / 2) * dilation;
  const stride = spec.stride ?? 1;
  return {
    kernel_shape: attr.ints([kernel, dims[3] as number]),
    strides: attr.ints([stride, stride]),
    pads: attr.ints([pad, pad, pad, pad]),
    ...(spec.groups !== undefined && spec.groups !== 1 ? { group: attr.int(spec.groups) } : {}),
    ...(dilation !== 1 ? { dilations: attr.ints([dilation, dilation]) } : {}),
  };
}
