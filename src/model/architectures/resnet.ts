import { ResnetServeError } from '../../errors.js';
import { instanceOf } from '../../guards.js';
import { IMAGENET_RECIPE } from '../../image/recipe.js';
import type { StateDict } from '../../weights/types.js';
import { FEATURE_GRID, FEATURES_NAME } from '../features.js';
import { foldBatchNorm } from '../fold-batchnorm.js';
import { attr, type OnnxGraph, type OnnxNode, type OnnxTensor } from '../onnx/graph.js';
import { encodeModel } from '../onnx/proto.js';
import { checkResNet18StateDict } from './check-state-dict.js';
import { type ConvBnLayout, fcInFeatures } from './resnet-layout.js';

/** Graph input: float32 [N, 3, 224, 224], ImageNet-normalised (see IMAGENET_RECIPE). */
export const INPUT_NAME = 'input';
/** Graph output: float32 [N, classes], pre-softmax. */
export const OUTPUT_NAME = 'logits';
/** Symbolic batch dimension, so one model serves any batch size. */
export const BATCH_DIM = 'N';

/**
 * Builds the torchvision ResNet-18 forward pass (torchvision/models/resnet.py `ResNet._forward_impl`) as an
 * ONNX graph with every BatchNorm folded into its convolution:
 * Conv 7×7/2 → Relu → MaxPool 3×3/2 pad 1 → 8 BasicBlocks (Conv → Relu → Conv, Add identity or 1×1/2
 * downsample Conv, Relu) → GlobalAveragePool → Flatten → Gemm(transB=1); layer4's output is also the graph output
 * `features`, through an Identity so that quantisation (quantize-graph.ts) exposes its dequantised form and the
 * Add/Relu before it still fuses.
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
  const initializers = new Map<string, OnnxTensor>();
  const nodes: OnnxNode[] = [];

  const node = (
    opType: string,
    name: string,
    inputs: readonly string[],
    attributes: OnnxNode['attributes'] = {},
    output = `${name}.out`,
  ): string => {
    nodes.push({ opType, name, inputs, outputs: [output], attributes });
    return output;
  };

  const convBn = (unit: ConvBnLayout, input: string): string => {
    const folded = foldBatchNorm(floatData(stateDict, `${unit.conv}.weight`), {
      weight: floatData(stateDict, `${unit.bn}.weight`),
      bias: floatData(stateDict, `${unit.bn}.bias`),
      runningMean: floatData(stateDict, `${unit.bn}.running_mean`),
      runningVar: floatData(stateDict, `${unit.bn}.running_var`),
    });
    const weightName = `${unit.conv}.weight`;
    const biasName = `${unit.conv}.bias`;
    initializers.set(weightName, {
      dtype: 'float32',
      dims: [unit.outChannels, unit.inChannels, unit.kernel, unit.kernel],
      data: folded.weight,
    });
    initializers.set(biasName, { dtype: 'float32', dims: [unit.outChannels], data: folded.bias });
    return node('Conv', unit.conv, [input, weightName, biasName], {
      kernel_shape: attr.ints([unit.kernel, unit.kernel]),
      strides: attr.ints([unit.stride, unit.stride]),
      pads: attr.ints([unit.pad, unit.pad, unit.pad, unit.pad]),
    });
  };

  let x = node('Relu', 'relu', [convBn(layout.stem, INPUT_NAME)]);
  x = node('MaxPool', 'maxpool', [x], { kernel_shape: attr.ints([3, 3]), strides: attr.ints([2, 2]), pads: attr.ints([1, 1, 1, 1]) });
  for (const block of layout.blocks) {
    const identity = block.downsample === undefined ? x : convBn(block.downsample, x);
    const branch = convBn(block.conv2, node('Relu', `${block.name}.relu1`, [convBn(block.conv1, x)]));
    x = node('Relu', `${block.name}.relu2`, [node('Add', `${block.name}.add`, [branch, identity])]);
  }
  node('Identity', FEATURES_NAME, [x], {}, FEATURES_NAME);
  x = node('GlobalAveragePool', 'avgpool', [x]);
  x = node('Flatten', 'flatten', [x], { axis: attr.int(1) });
  initializers.set('fc.weight', {
    dtype: 'float32',
    dims: [layout.classes, fcInFeatures(layout)],
    data: floatData(stateDict, 'fc.weight'),
  });
  initializers.set('fc.bias', { dtype: 'float32', dims: [layout.classes], data: floatData(stateDict, 'fc.bias') });
  node('Gemm', 'fc', [x, 'fc.weight', 'fc.bias'], { transB: attr.int(1) }, OUTPUT_NAME);

  const size = IMAGENET_RECIPE.cropSize;
  return {
    name: 'resnet18',
    inputs: [{ name: INPUT_NAME, elemType: 'float32', shape: [BATCH_DIM, 3, size, size] }],
    outputs: [
      { name: OUTPUT_NAME, elemType: 'float32', shape: [BATCH_DIM, layout.classes] },
      { name: FEATURES_NAME, elemType: 'float32', shape: [BATCH_DIM, fcInFeatures(layout), FEATURE_GRID, FEATURE_GRID] },
    ],
    initializers,
    nodes,
  };
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

/** Reads a tensor the state_dict check has already proven to be float. */
function floatData(stateDict: StateDict, key: string): Float32Array {
  const data = stateDict.get(key)?.data;
  if (!(data instanceof Float32Array)) throw new ResnetServeError('INTERNAL', `The checked state_dict lost its float tensor ${key}.`);
  return data;
}
