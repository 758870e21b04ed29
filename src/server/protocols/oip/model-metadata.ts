import type { ModelContract } from '../../../model/contract.js';

/** A tensor as the Open Inference Protocol describes it; -1 marks the batch dimension. */
export interface TensorMetadata {
  readonly name: string;
  readonly datatype: string;
  readonly shape: readonly number[];
}

/** Encoded image files, one per element, in any format of image/formats.ts' DECODABLE: preprocessed by the server. */
export const IMAGE_INPUT: TensorMetadata = Object.freeze({ name: 'image', datatype: 'BYTES', shape: Object.freeze([-1]) });
/** The ONNX model's own input, for clients that preprocess themselves (the weights' recipe, NCHW). */
export const TENSOR_INPUT = Object.freeze({ name: 'input', datatype: 'FP32' });

/** The outputs a request that names none gets. */
export const OUTPUT_NAMES = ['logits', 'probabilities'] as const;
/**
 * Returned only when named: the class activation map of each element's top class, FP32 [N, g, g] (g the model's
 * features grid, 7 for ResNet-18), over the centre crop the model saw (the rule of /predict?explain=true: ReLU,
 * then divided by the map's maximum). A model that cannot explain answers it with EXPLAIN_UNAVAILABLE.
 */
export const CAM_OUTPUT_NAME = 'cam';
export type OutputName = (typeof OUTPUT_NAMES)[number] | typeof CAM_OUTPUT_NAME;

/** The platform name the spec gives ONNX Runtime models ("Platforms", inference_grpc.md). */
export const PLATFORM = 'onnx_onnxv1';

/** Server metadata's `extensions`: Triton's names for the extensions implemented here. */
export const EXTENSIONS = Object.freeze(['binary_tensor_data', 'classification', 'model_repository'] as const);

export interface ModelMetadata {
  name: string;
  versions: string[];
  platform: string;
  inputs: TensorMetadata[];
  outputs: TensorMetadata[];
}

/**
 * ModelMetadataResponse for the served model: its one version is the weights' hash prefix (the `version` of its
 * contract, so `name` + `versions` say which weights answer), its tensor input is the recipe's crop size, its
 * outputs have its classes, and `cam` is listed only when the model can explain.
 */
export function modelMetadata(name: string, model: ModelContract): ModelMetadata {
  const size = model.recipe.cropSize;
  const grid = model.features?.grid;
  return {
    name,
    versions: [model.version],
    platform: PLATFORM,
    inputs: [IMAGE_INPUT, { ...TENSOR_INPUT, shape: [-1, 3, size, size] }],
    outputs: [
      ...OUTPUT_NAMES.map((output) => ({ name: output, datatype: 'FP32', shape: [-1, model.classes] })),
      ...(grid === undefined ? [] : [{ name: CAM_OUTPUT_NAME, datatype: 'FP32', shape: [-1, grid, grid] }]),
    ],
  };
}
