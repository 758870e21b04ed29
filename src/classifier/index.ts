export { createClassifier } from './classifier.js';
export type {
  Classifier,
  ClassifierObserver,
  ClassifierOptions,
  ClassifyOptions,
  ClassifyResult,
  Explanation,
  InferOptions,
  InferResult,
  Timings,
} from './types.js';
