import type { StateDict } from '../../weights/types.js';
import type { OnnxGraph } from '../onnx/graph.js';

/** The TorchVision families resnet-serve builds, one file each in this folder. */
export type ArchitectureFamily = 'resnet' | 'mobilenet_v3' | 'efficientnet' | 'regnet' | 'convnext';

export interface BuildOptions {
  /** Side of the square input the graph takes: the weights' crop size (224 for ResNet-18 IMAGENET1K_V1). */
  readonly inputSize: number;
}

/**
 * What an architecture builds from a state_dict: an ONNX graph with every BatchNorm folded, whose input is
 * `input` float32 [N, 3, inputSize, inputSize] (normalised as the weights' recipe says) and whose outputs are
 * `logits` float32 [N, classes] and, for a head that is global-average-pool → linear, `features` (the tensor the
 * pool reads) float32 [N, featureChannels, g, g], from which class activation maps are computed.
 */
export interface BuiltArchitecture {
  readonly graph: OnnxGraph;
  readonly classes: number;
  /** Channels of `features`; undefined when the head is not pool → linear (ConvNeXt's LayerNorm after the pool). */
  readonly featureChannels: number | undefined;
}

/** One TorchVision classifier builder, as `torchvision.models.get_model(name)` knows it. */
export interface Architecture {
  /** TorchVision's builder name: `resnet50`, `mobilenet_v3_large`, `efficientnet_b0`, `regnet_y_400mf`… */
  readonly name: string;
  readonly family: ArchitectureFamily;
  /**
   * Builds the eval-mode forward pass, equal to TorchVision's module (within float32 rounding).
   * @throws ResnetServeError STATE_DICT_MISMATCH naming the first key or shape that differs (`checkTensorShapes`).
   */
  build(stateDict: StateDict, options: BuildOptions): BuiltArchitecture;
}
