/**
 * The torchvision ResNet family's topology as data (torchvision/models/resnet.py: `ResNet`, `BasicBlock`,
 * `Bottleneck`, `_make_layer` and the ten builders), shared by the state_dict check, the graph builder, the
 * data-free int8 ranges and the synthetic test weights.
 */
import { ExpectedTensors } from './expected-tensors.js';

/** One builder's arguments to `ResNet(block, layers, groups=, width_per_group=)`. */
export interface ResNetConfig {
  readonly block: 'basic' | 'bottleneck';
  /** Blocks in layer1..layer4. */
  readonly layers: readonly [number, number, number, number];
  readonly groups: number;
  /** `width_per_group` (64 unless ResNeXt or Wide ResNet): a Bottleneck's 3×3 width is planes × it / 64 × groups. */
  readonly widthPerGroup: number;
}

const resnet = (block: ResNetConfig['block'], layers: ResNetConfig['layers'], groups = 1, widthPerGroup = 64): ResNetConfig =>
  Object.freeze({ block, layers, groups, widthPerGroup });

/** Every torchvision ResNet builder, by its name (torchvision 0.29 resnet.py `resnet18` … `wide_resnet101_2`). */
export const RESNET_CONFIGS = Object.freeze({
  resnet18: resnet('basic', [2, 2, 2, 2]),
  resnet34: resnet('basic', [3, 4, 6, 3]),
  resnet50: resnet('bottleneck', [3, 4, 6, 3]),
  resnet101: resnet('bottleneck', [3, 4, 23, 3]),
  resnet152: resnet('bottleneck', [3, 8, 36, 3]),
  resnext50_32x4d: resnet('bottleneck', [3, 4, 6, 3], 32, 4),
  resnext101_32x8d: resnet('bottleneck', [3, 4, 23, 3], 32, 8),
  resnext101_64x4d: resnet('bottleneck', [3, 4, 23, 3], 64, 4),
  wide_resnet50_2: resnet('bottleneck', [3, 4, 6, 3], 1, 128),
  wide_resnet101_2: resnet('bottleneck', [3, 4, 23, 3], 1, 128),
} satisfies Record<string, ResNetConfig>);

export type ResNetName = keyof typeof RESNET_CONFIGS;

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
  readonly groups: number;
}

/**
 * A `BasicBlock` (conv1, conv2) or `Bottleneck` (conv1, conv2, conv3): each conv → bn → relu except the last,
 * whose output is added to the identity (or the downsample's), then relu.
 */
export interface BlockLayout {
  /** Module path, e.g. 'layer3.1'. */
  readonly name: string;
  readonly convs: readonly ConvBnLayout[];
  readonly downsample: ConvBnLayout | undefined;
}

export interface ResNetLayout {
  /** Channels of conv1 and layer1's planes (64 in torchvision); layer2..4 plan 2×, 4×, 8×. */
  readonly width: number;
  readonly classes: number;
  readonly stem: ConvBnLayout;
  readonly blocks: readonly BlockLayout[];
  /** Channels of layer4's output, which `avgpool` reads and `fc` takes: 8 × width × the block's expansion. */
  readonly featureChannels: number;
}

/** `BasicBlock.expansion` and `Bottleneck.expansion`. */
const EXPANSION = { basic: 1, bottleneck: 4 } as const;

/**
 * @param width - channels of the stem (torchvision: 64; narrower for test networks).
 * @param classes - outputs of `fc` (ImageNet: 1000).
 */
export function resnetLayout(config: ResNetConfig, width: number, classes: number): ResNetLayout {
  const expansion = EXPANSION[config.block];
  const blocks: BlockLayout[] = [];
  let inChannels = width;
  config.layers.forEach((count, layerIndex) => {
    const planes = width * 2 ** layerIndex;
    const outChannels = planes * expansion;
    for (let b = 0; b < count; b++) {
      const name = `layer${layerIndex + 1}.${b}`;
      const stride = b === 0 && layerIndex > 0 ? 2 : 1;
      const unit = (i: number, from: number, to: number, kernel: number, s = 1, groups = 1): ConvBnLayout =>
        convBn(`${name}.conv${i}`, `${name}.bn${i}`, from, to, kernel, s, groups);
      // Bottleneck: width = int(planes * (base_width / 64.0)) * groups; the stride sits on the 3×3 (ResNet v1.5).
      const bottleneckWidth = Math.trunc(planes * (config.widthPerGroup / 64)) * config.groups;
      const convs =
        config.block === 'basic'
          ? [unit(1, inChannels, planes, 3, stride), unit(2, planes, planes, 3)]
          : [
              unit(1, inChannels, bottleneckWidth, 1),
              unit(2, bottleneckWidth, bottleneckWidth, 3, stride, config.groups),
              unit(3, bottleneckWidth, outChannels, 1),
            ];
      // _make_layer: a downsample when stride != 1 or inplanes != planes * expansion.
      const needsDownsample = stride !== 1 || inChannels !== outChannels;
      const downsample = needsDownsample
        ? convBn(`${name}.downsample.0`, `${name}.downsample.1`, inChannels, outChannels, 1, stride)
        : undefined;
      blocks.push({ name, convs, downsample });
      inChannels = outChannels;
    }
  });
  // The stem is 7×7 stride 2 pad 3 (torchvision: nn.Conv2d(3, 64, kernel_size=7, stride=2, padding=3)).
  return { width, classes, stem: convBn('conv1', 'bn1', 3, width, 7, 2), blocks, featureChannels: inChannels };
}

function convBn(
  conv: string,
  bn: string,
  inChannels: number,
  outChannels: number,
  kernel: number,
  stride: number,
  groups = 1,
): ConvBnLayout {
  return { conv, bn, inChannels, outChannels, kernel, stride, pad: (kernel - 1) / 2, groups };
}

/** Every ConvBn of the network in forward order (the order of torchvision's state_dict). */
export function convBnUnits(layout: ResNetLayout): ConvBnLayout[] {
  const units = [layout.stem];
  for (const block of layout.blocks) {
    units.push(...block.convs);
    if (block.downsample !== undefined) units.push(block.downsample);
  }
  return units;
}

/** The tensors of a torchvision ResNet state_dict with their shapes, in torchvision's order. */
export function resnetTensors(layout: ResNetLayout): ExpectedTensors {
  const tensors = new ExpectedTensors();
  for (const unit of convBnUnits(layout)) {
    tensors.conv(unit.conv, { in: unit.inChannels, out: unit.outChannels, kernel: unit.kernel, groups: unit.groups });
    tensors.batchNorm(unit.bn, unit.outChannels);
  }
  return tensors.linear('fc', layout.featureChannels, layout.classes);
}
