export { preprocess, preprocessInto, type PreprocessOptions } from './preprocess.js';
export { sniffImageFormat, detectImageFormat, type ImageFormat } from './sniff.js';
