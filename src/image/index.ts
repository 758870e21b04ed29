export { preprocess, preprocessInto, type PreprocessOptions } from './preprocess.js';
export { preprocessFolder, MAX_FOLDER_IMAGES } from './folder.js';
export { sniffImageFormat, detectImageFormat, type ImageFormat } from './sniff.js';
