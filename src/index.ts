/** The library surface of resnet-serve: the same stages the CLI and the server are built from. */
export { createClassifier, type ClassifierOptions } from './classifier.js';
export type { Classifier, ClassifierObserver, ClassifyOptions, ClassifyResult, Timings } from './classifier-types.js';
export { preprocess, preprocessInto } from './image/index.js';
export { postprocess, softmax } from './labels/index.js';
export { convertToOnnx } from './model/resnet.js';
export { resolveModel, type ModelSource } from './model/cache.js';
export { readStateDict } from './weights/read.js';
export { readPth } from './weights/pth.js';
export { readSafetensors } from './weights/safetensors.js';
export { resolveWeights } from './weights/fetch.js';
export { ERROR_CODES, ResnetServeError, isResnetServeError, type ErrorCode } from './errors.js';
export { DEFAULTS, DEFAULT_WEIGHTS, IMAGENET_RECIPE, INPUT_ELEMENTS, cacheDir } from './config.js';
export type { DType, Lang, Precision, Prediction, StateDict, TensorData } from './types.js';
