export { createClassifier } from './classifier.js';
export { CLASSIFIER_OPTIONS, type ClassifierOptions, type ResolvedClassifierOptions, resolveClassifierOptions } from './options.js';
export type {
  Classifier,
  ClassifierLimits,
  ClassifierObserver,
  ClassifyOptions,
  ClassifyResult,
  Explanation,
  InferOptions,
  InferResult,
  Timings,
} from './types.js';
