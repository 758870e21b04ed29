export { createClassifier } from './classifier.js';
export type { Classifier, ClassifierObserver, ClassifierOptions, ClassifyOptions, ClassifyResult, Explanation, Timings } from './types.js';
