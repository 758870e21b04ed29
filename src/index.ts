/** The library surface of resnet-serve: the same stages the CLI and the server are built from. */
export {
  CLASSIFIER_OPTIONS,
  type Classifier,
  type ClassifierLimits,
  type ClassifierObserver,
  type ClassifierOptions,
  type ClassifyOptions,
  type ClassifyResult,
  createClassifier,
  type Explanation,
  type InferResult,
  type Timings,
} from './classifier/index.js';
export { DEFAULTS, SETTINGS } from './cli/settings.js';
export { ERROR_CODES, type ErrorCode, isResnetServeError, ResnetServeError } from './errors.js';
export { normaliseCam, rawCam } from './explain/cam.js';
export { cacheDir } from './files/cache-dir.js';
export { MAX_PIXELS, preprocess, preprocessInto } from './image/index.js';
export { IMAGENET_RECIPE, INPUT_ELEMENTS, type Interpolation, inputElements, type PreprocessRecipe } from './image/recipe.js';
export { type CropBox, cropBox } from './image/recipe-geometry.js';
export { IMAGENET_WNIDS } from './labels/imagenet-wnids.js';
export { postprocess, softmax, TOP_K } from './labels/index.js';
export type { Lang, Prediction } from './labels/types.js';
export { convertToOnnx } from './model/architectures/resnet.js';
export type { Precision } from './model/types.js';
export { type ModelSource, resolveModel } from './setup/resolve-model.js';
export { DEFAULT_WEIGHTS } from './weights/default-weights.js';
export { resolveWeights } from './weights/fetch.js';
export { readPth } from './weights/pth.js';
export { readStateDict } from './weights/read.js';
export { readSafetensors } from './weights/safetensors.js';
export type { DType, StateDict, TensorData } from './weights/types.js';
