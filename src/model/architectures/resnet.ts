import { instanceOf, oneOf } from '../../guards.js';
import { IMAGENET_RECIPE } from '../../image/recipe.js';
import type { StateDict } from '../../weights/types.js';
import { attr, type OnnxGraph } from '../onnx/graph.js';
import { encodeModel } from '../onnx/proto.js';
import { classesOf } from './expected-tensors.js';
import { GraphBuilder, INPUT_NAME, OUTPUT_NAME } from './graph-builder.js';
import { type ConvBnLayout, RESNET_CONFIGS, type ResNetLayout, type ResNetName, resnetLayout, resnetTensors } from './resnet-layout.js';
import { convOutputSize } from './torchvision-ops.js';
import type { Architecture, BuildOptions, BuiltArchitecture } from './types.js';

/** torchvision's stem width (`self.inplanes = 64`), used only when `conv1.weight` is itself missing or malformed. */
const FALLBACK_WIDTH = 64;

/**
 * Checks that `stateDict` is the torchvision ResNet `name`, of some stem width and class count, and
 * returns its layout. The width comes from `conv1.weight` ([width, 3, 7, 7]) and the class count from `fc.weight`,
 * so narrow test networks pass; every other tensor must then have exactly torchvision's shape and a float dtype.
 *
 * @throws ResnetServeError STATE_DICT_MISMATCH as `checkTensorShapes`, naming the first key that differs.
 */
export function checkResNetStateDict(name: ResNetName, stateDict: StateDict): ResNetLayout {
  const layout = resnetLayout(RESNET_CONFIGS[name], stemWidth(stateDict), classesOf(stateDict, 'fc'));
  resnetTensors(layout).check(stateDict, `a torchvision ${name} (width ${layout.width}, ${layout.classes} classes)`);
  return layout;
}

/** Rows of `conv1.weight` [width, 3, 7, 7], or torchvision's 64 when it is malformed (the check then names it). */
function stemWidth(stateDict: StateDict): number {
  const shape = stateDict.get('conv1.weight')?.shape;
  const width = shape?.length === 4 ? shape[0] : undefined;
  return width !== undefined && Number.isSafeInteger(width) && width > 0 ? width : FALLBACK_WIDTH;
}

/**
 * Builds the forward pass of torchvision's `ResNet._forward_impl` as an ONNX graph with every BatchNorm folded into
 * its convolution: Conv 7×7/2 → Relu → MaxPool 3×3/2 pad 1 → layer1..4 of BasicBlocks (Conv → Relu → Conv) or
 * Bottlenecks (1×1 → Relu → 3×3 grouped, strided → Relu → 1×1), each added to its identity or 1×1 downsample, then
 * Relu → GlobalAveragePool → Flatten → Gemm(transB=1); layer4's output is also the graph output `features`.
 * Only plain Conv/Relu/Add are emitted: ORT's own optimiser fuses them at session creation (measured with ORT 1.30
 * on CPU for ResNet-18: all 17 Relu and 8 Add folded into the 20 Conv nodes, NCHWc layout).
 *
 * Node names are torchvision module paths ('layer2.0.conv1', 'fc'); folded initializers are `<conv>.weight`
 * and `<conv>.bias`. `fc.weight`/`fc.bias` share the state_dict's arrays (no copy).
 */
function buildResNet(name: ResNetName, stateDict: StateDict, options: BuildOptions): BuiltArchitecture {
  const layout = checkResNetStateDict(name, stateDict);
  const g = new GraphBuilder(stateDict);
  const convBn = (unit: ConvBnLayout, input: string): string =>
    g.convBn({ conv: unit.conv, bn: unit.bn, stride: unit.stride, pad: unit.pad, groups: unit.groups }, input);

  let x = g.node('Relu', 'relu', [convBn(layout.stem, INPUT_NAME)]);
  x = g.node('MaxPool', 'maxpool', [x], { kernel_shape: attr.ints([3, 3]), strides: attr.ints([2, 2]), pads: attr.ints([1, 1, 1, 1]) });
  for (const block of layout.blocks) {
    const identity = block.downsample === undefined ? x : convBn(block.downsample, x);
    let branch = x;
    block.convs.forEach((unit, i) => {
      branch = convBn(unit, branch);
      if (i < block.convs.length - 1) branch = g.node('Relu', `${block.name}.relu${i + 1}`, [branch]);
    });
    x = g.node('Relu', `${block.name}.relu${block.convs.length}`, [g.node('Add', `${block.name}.add`, [branch, identity])]);
  }
  g.features(x);
  x = g.node('GlobalAveragePool', 'avgpool', [x]);
  x = g.node('Flatten', 'flatten', [x], { axis: attr.int(1) });
  g.linear('fc', x, OUTPUT_NAME);
  const featureChannels = layout.featureChannels;
  const grid = featureGrid(layout, options.inputSize);
  const graph = g.finish(name, { inputSize: options.inputSize, classes: layout.classes, features: { channels: featureChannels, grid } });
  return { graph, classes: layout.classes, featureChannels };
}

/** The side of layer4's map: conv1 and maxpool, then every strided convolution (7 at 224 px, 2 at 64). */
function featureGrid(layout: ResNetLayout, inputSize: number): number {
  const afterStem = convOutputSize(convOutputSize(inputSize, layout.stem.kernel, layout.stem.stride, layout.stem.pad), 3, 2, 1);
  const strided = layout.blocks.flatMap((block) => block.convs).filter((unit) => unit.stride !== 1);
  return strided.reduce((side, unit) => convOutputSize(side, unit.kernel, unit.stride, unit.pad), afterStem);
}

/** The ten torchvision ResNet builders, ResNet-18 first. */
export const RESNET_ARCHITECTURES: readonly Architecture[] = Object.freeze(
  (Object.keys(RESNET_CONFIGS) as ResNetName[]).map(
    (name): Architecture => ({
      name,
      family: 'resnet',
      build: (stateDict, options) => buildResNet(name, stateDict, options),
    }),
  ),
);

/**
 * `name` as a torchvision ResNet builder, for callers that need its layout (data-free int8 ranges).
 * @throws ResnetServeError INVALID_ARGUMENT naming the ResNet builders when it is not one.
 */
export function resnetName(parameter: string, name: string): ResNetName {
  return oneOf(parameter, name, Object.keys(RESNET_CONFIGS) as ResNetName[]);
}

/**
 * A torchvision ResNet graph at ResNet-18 IMAGENET1K_V1's crop size (224): input `input` float32 [N,3,224,224],
 * outputs `logits` [N, classes] and `features` [N, channels, 7, 7].
 *
 * @param stateDict - a torchvision ResNet state_dict of any stem width/class count (inferred from shapes).
 * @param name - the builder; default 'resnet18'.
 * @throws ResnetServeError STATE_DICT_MISMATCH when keys are missing, unexpected or mis-shaped.
 */
export function buildResNetGraph(stateDict: StateDict, name: ResNetName = 'resnet18'): OnnxGraph {
  return buildResNet(name, stateDict, { inputSize: IMAGENET_RECIPE.cropSize }).graph;
}

/**
 * Converts a torchvision ResNet-18 state_dict to ONNX bytes for onnxruntime-node: input `input`
 * float32 [N,3,224,224], outputs `logits` float32 [N,classes] and `features` float32 [N,512,7,7].
 *
 * @example
 * const bytes = convertToOnnx(readSafetensors(readFileSync('resnet18.safetensors')));
 * const session = await InferenceSession.create(bytes); // session.outputNames → ['logits', 'features']
 * @throws ResnetServeError STATE_DICT_MISMATCH when the state_dict is not a ResNet-18; INVALID_ARGUMENT when it is
 *   not a Map.
 */
export function convertToOnnx(stateDict: StateDict): Uint8Array {
  instanceOf('stateDict', stateDict, Map, 'a Map of tensors (readStateDict gives one)');
  return encodeModel(buildResNetGraph(stateDict));
}
