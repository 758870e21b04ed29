import type { PreprocessRecipe } from '../image/recipe.js';
import type { StateDict } from '../weights/types.js';
import { architectureOf } from './architectures/index.js';
import { contractMetadata, labelsFor } from './contract.js';
import { encodeModel } from './onnx/proto.js';
import { quantizedGraph } from './quantize/quantize.js';
import type { Precision } from './types.js';

export interface BuildOptions {
  /** TorchVision's builder name (`resnet50`), as `architectureOf` takes it. */
  architecture: string;
  precision: Precision;
  /** The weights' preprocessing: its crop size is the graph's input side, and it is written into the model. */
  recipe: PreprocessRecipe;
  /** The weights file the state_dict was read from, by name, and its SHA-256: the model's id is made from them. */
  weights: { file: string; sha256: string };
  /** int8 only: preprocessed calibration images; without them, ranges come from the BatchNorm statistics. */
  calibration?: readonly Float32Array[];
}

/** The families `--precision int8` quantises: their graphs hold only Conv, Add, Relu, MaxPool, pooling and Gemm. */
/**
 * The ONNX model for a TorchVision state_dict at the requested precision, with the model contract (architecture,
 * weights, precision, recipe, labels) in its `metadata_props` (model/contract.ts): what `convert` writes and the
 * cache holds.
 *
 * @throws ResnetServeError STATE_DICT_MISMATCH when the state_dict is not that architecture; INVALID_ARGUMENT for an
 *   unknown architecture, or int8 for a family the quantiser does not support (naming those it does).
 */
export async function buildModel(stateDict: StateDict, options: BuildOptions): Promise<Uint8Array> {
  const { precision, recipe } = options;
  const architecture = architectureOf(options.architecture);
  const graph =
    precision === 'int8'
      ? await quantizedGraph(stateDict, {
          architecture: architecture.name,
          calibration: options.calibration,
          inputSize: recipe.cropSize,
          recipe,
        })
      : architecture.build(stateDict, { inputSize: recipe.cropSize }).graph;
  const classes = graph.outputs[0]?.shape[1];
  const labels = typeof classes === 'number' ? labelsFor(classes) : undefined;
  return encodeModel(graph, contractMetadata({ architecture: architecture.name, weights: options.weights, precision, recipe, labels }));
}
