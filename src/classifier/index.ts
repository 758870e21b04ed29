export { createClassifier } from './classifier.js';
export type { Classifier, ClassifierObserver, ClassifierOptions, ClassifyOptions, ClassifyResult, InferResult, Timings } from './types.js';
