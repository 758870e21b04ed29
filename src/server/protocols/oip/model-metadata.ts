import { IMAGENET_RECIPE } from '../../../image/recipe.js';
import { IMAGENET_LABELS } from '../../../labels/index.js';
import { FEATURE_GRID } from '../../../model/features.js';
import { MODEL_VERSION } from '../served-model.js';

/** A tensor as the Open Inference Protocol describes it; -1 marks the batch dimension. */
export interface TensorMetadata {
  readonly name: string;
  readonly datatype: string;
  readonly shape: readonly number[];
}

const { cropSize } = IMAGENET_RECIPE;
const CLASSES = IMAGENET_LABELS.en.length;

/** Encoded image files, one per element, in any format of image/formats.ts' DECODABLE: preprocessed by the server. */
export const IMAGE_INPUT: TensorMetadata = Object.freeze({ name: 'image', datatype: 'BYTES', shape: Object.freeze([-1]) });
/** The ONNX model's own input, for clients that preprocess themselves (torchvision's recipe, NCHW). */
export const TENSOR_INPUT: TensorMetadata = Object.freeze({
  name: 'input',
  datatype: 'FP32',
  shape: Object.freeze([-1, 3, cropSize, cropSize]),
});

/** The outputs a request that names none gets. */
export const OUTPUT_NAMES = ['logits', 'probabilities'] as const;
/**
 * Returned only when named: the class activation map of each element's top class, FP32 [N, 7, 7], over the centre
 * crop the model saw (the rule of /predict?explain=true: ReLU, then divided by the map's maximum). A model without
 * the `features` output answers it with EXPLAIN_UNAVAILABLE.
 */
export const CAM_OUTPUT_NAME = 'cam';
export type OutputName = (typeof OUTPUT_NAMES)[number] | typeof CAM_OUTPUT_NAME;

export const OUTPUTS: readonly TensorMetadata[] = Object.freeze([
  ...OUTPUT_NAMES.map((name) => Object.freeze({ name, datatype: 'FP32', shape: Object.freeze([-1, CLASSES]) })),
  Object.freeze({ name: CAM_OUTPUT_NAME, datatype: 'FP32', shape: Object.freeze([-1, FEATURE_GRID, FEATURE_GRID]) }),
]);

/** The platform name the spec gives ONNX Runtime models ("Platforms", inference_grpc.md). */
export const PLATFORM = 'onnx_onnxv1';

/** Server metadata's `extensions`: Triton's names for the two extensions implemented here. */
export const EXTENSIONS = Object.freeze(['binary_tensor_data', 'classification'] as const);

export interface ModelMetadata {
  name: string;
  versions: string[];
  platform: string;
  inputs: TensorMetadata[];
  outputs: TensorMetadata[];
}

export function modelMetadata(name: string): ModelMetadata {
  return { name, versions: [MODEL_VERSION], platform: PLATFORM, inputs: [IMAGE_INPUT, TENSOR_INPUT], outputs: [...OUTPUTS] };
}
