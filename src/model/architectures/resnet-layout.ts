/**
 * The torchvision ResNet-18 topology as data (torchvision/models/resnet.py: `ResNet(BasicBlock, [2, 2, 2, 2])`),
 * shared by the state_dict check, the graph builder and the synthetic test weights.
 */

/** One convolution (bias=False in torchvision) followed by the BatchNorm2d that the converter folds into it. */
export interface ConvBnLayout {
  /** Module path of the Conv2d, e.g. 'layer2.0.downsample.0'. */
  readonly conv: string;
  /** Module path of the BatchNorm2d, e.g. 'layer2.0.downsample.1'. */
  readonly bn: string;
  readonly inChannels: number;
  readonly outChannels: number;
  readonly kernel: number;
  readonly stride: number;
  readonly pad: number;
}

/** torchvision `BasicBlock`: conv1 → bn1 → relu → conv2 → bn2, plus identity (or downsample), then relu. */
export interface BasicBlockLayout {
  /** Module path, e.g. 'layer3.1'. */
  readonly name: string;
  readonly conv1: ConvBnLayout;
  readonly conv2: ConvBnLayout;
  readonly downsample: ConvBnLayout | undefined;
}

export interface ResNet18Layout {
  /** Channels of conv1 and layer1 (64 in torchvision); layer2..4 use 2×, 4×, 8×. */
  readonly width: number;
  readonly classes: number;
  readonly stem: ConvBnLayout;
  readonly blocks: readonly BasicBlockLayout[];
}

const BLOCKS_PER_LAYER = [2, 2, 2, 2] as const;

/** Names of the four tensors every BatchNorm2d stores, besides the optional `num_batches_tracked`. */
export const BATCH_NORM_TENSORS = ['weight', 'bias', 'running_mean', 'running_var'] as const;

/**
 * @param width - channels of the stem (torchvision: 64).
 * @param classes - outputs of `fc` (ImageNet: 1000).
 */
export function resnet18Layout(width: number, classes: number): ResNet18Layout {
  const convBn = (conv: string, bn: string, inChannels: number, outChannels: number, kernel: number, stride: number): ConvBnLayout => ({
    conv,
    bn,
    inChannels,
    outChannels,
    kernel,
    stride,
    pad: (kernel - 1) / 2,
  });
  const blocks: BasicBlockLayout[] = [];
  let inChannels = width;
  BLOCKS_PER_LAYER.forEach((count, layerIndex) => {
    const planes = width * 2 ** layerIndex;
    const layerStride = layerIndex === 0 ? 1 : 2;
    for (let b = 0; b < count; b++) {
      const name = `layer${layerIndex + 1}.${b}`;
      const stride = b === 0 ? layerStride : 1;
      // torchvision _make_layer: downsample when stride != 1 or inplanes != planes * expansion.
      const needsDownsample = stride !== 1 || inChannels !== planes;
      blocks.push({
        name,
        conv1: convBn(`${name}.conv1`, `${name}.bn1`, inChannels, planes, 3, stride),
        conv2: convBn(`${name}.conv2`, `${name}.bn2`, planes, planes, 3, 1),
        downsample: needsDownsample ? convBn(`${name}.downsample.0`, `${name}.downsample.1`, inChannels, planes, 1, stride) : undefined,
      });
      inChannels = planes;
    }
  });
  // The stem is 7×7 stride 2 pad 3 (torchvision: nn.Conv2d(3, 64, kernel_size=7, stride=2, padding=3)).
  return { width, classes, stem: convBn('conv1', 'bn1', 3, width, 7, 2), blocks };
}

/** Every ConvBn of the network in forward order. */
export function convBnUnits(layout: ResNet18Layout): ConvBnLayout[] {
  const units = [layout.stem];
  for (const block of layout.blocks) {
    units.push(block.conv1, block.conv2);
    if (block.downsample !== undefined) units.push(block.downsample);
  }
  return units;
}

/** Channels entering `fc`: the last block's width (8 × width). */
export function fcInFeatures(layout: ResNet18Layout): number {
  return layout.width * 8;
}

/**
 * The float tensors a torchvision ResNet-18 state_dict must hold, with their shapes, in torchvision's order.
 * `num_batches_tracked` buffers are not listed: they are optional and ignored (see `optionalKeys`).
 */
export function requiredTensorShapes(layout: ResNet18Layout): Map<string, readonly number[]> {
  const shapes = new Map<string, readonly number[]>();
  for (const unit of convBnUnits(layout)) {
    shapes.set(`${unit.conv}.weight`, [unit.outChannels, unit.inChannels, unit.kernel, unit.kernel]);
    for (const tensor of BATCH_NORM_TENSORS) shapes.set(`${unit.bn}.${tensor}`, [unit.outChannels]);
  }
  shapes.set('fc.weight', [layout.classes, fcInFeatures(layout)]);
  shapes.set('fc.bias', [layout.classes]);
  return shapes;
}

/**
 * `<bn>.num_batches_tracked` for every BatchNorm2d. Allowed but not required: checkpoints saved before
 * PyTorch 0.4.1 lack them and torchvision still loads those (BatchNorm `_load_from_state_dict`, version < 2).
 */
export function optionalKeys(layout: ResNet18Layout): Set<string> {
  return new Set(convBnUnits(layout).map((unit) => `${unit.bn}.num_batches_tracked`));
}
