export { createClassifier } from './classifier.js';
export type { Classifier, ClassifierObserver, ClassifierOptions, ClassifyOptions, ClassifyResult, Timings } from './types.js';
