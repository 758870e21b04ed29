import { instanceOf } from '../../guards.js';
import { IMAGENET_RECIPE } from '../../image/recipe.js';
import type { StateDict } from '../../weights/types.js';
import { FEATURE_GRID } from '../features.js';
import { attr, type OnnxGraph } from '../onnx/graph.js';
import { encodeModel } from '../onnx/proto.js';
import { checkResNet18StateDict } from './check-state-dict.js';
import { GraphBuilder, INPUT_NAME, OUTPUT_NAME } from './graph-builder.js';
import { type ConvBnLayout, fcInFeatures } from './resnet-layout.js';

/**
 * Builds the torchvision ResNet-18 forward pass (torchvision/models/resnet.py `ResNet._forward_impl`) as an
 * ONNX graph with every BatchNorm folded into its convolution:
 * Conv 7×7/2 → Relu → MaxPool 3×3/2 pad 1 → 8 BasicBlocks (Conv → Relu → Conv, Add identity or 1×1/2
 * downsample Conv, Relu) → GlobalAveragePool → Flatten → Gemm(transB=1); layer4's output is also the graph output
 * `features` (GraphBuilder.features).
 * Only plain Conv/Relu/Add are emitted: ORT's own optimiser fuses them at session creation (measured with ORT 1.30
 * on CPU: all 17 Relu and 8 Add folded into the 20 Conv nodes, NCHWc layout).
 *
 * Node names are torchvision module paths ('layer2.0.conv1', 'fc'); folded initializers are `<conv>.weight`
 * and `<conv>.bias`. `fc.weight`/`fc.bias` share the state_dict's arrays (no copy).
 *
 * @param stateDict - a torchvision ResNet-18 state_dict of any width/class count (inferred from shapes).
 * @throws ResnetServeError STATE_DICT_MISMATCH when keys are missing, unexpected or mis-shaped.
 */
export function buildResNetGraph(stateDict: StateDict): OnnxGraph {
  const layout = checkResNet18StateDict(stateDict);
  const g = new GraphBuilder(stateDict);
  const convBn = (unit: ConvBnLayout, input: string): string =>
    g.convBn({ conv: unit.conv, bn: unit.bn, stride: unit.stride, pad: unit.pad }, input);

  let x = g.node('Relu', 'relu', [convBn(layout.stem, INPUT_NAME)]);
  x = g.node('MaxPool', 'maxpool', [x], { kernel_shape: attr.ints([3, 3]), strides: attr.ints([2, 2]), pads: attr.ints([1, 1, 1, 1]) });
  for (const block of layout.blocks) {
    const identity = block.downsample === undefined ? x : convBn(block.downsample, x);
    const branch = convBn(block.conv2, g.node('Relu', `${block.name}.relu1`, [convBn(block.conv1, x)]));
    x = g.node('Relu', `${block.name}.relu2`, [g.node('Add', `${block.name}.add`, [branch, identity])]);
  }
  g.features(x);
  x = g.node('GlobalAveragePool', 'avgpool', [x]);
  x = g.node('Flatten', 'flatten', [x], { axis: attr.int(1) });
  g.linear('fc', x, OUTPUT_NAME);
  return g.finish('resnet18', {
    inputSize: IMAGENET_RECIPE.cropSize,
    classes: layout.classes,
    features: { channels: fcInFeatures(layout), grid: FEATURE_GRID },
  });
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
