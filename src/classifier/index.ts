export { createClassifier } from './classifier.js';
export type {
  Classifier,
  ClassifierObserver,
  ClassifierOptions,
  ClassifyOptions,
  ClassifyResult,
  Explanation,
  InferResult,
  Timings,
} from './types.js';
