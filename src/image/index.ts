export { preprocess, preprocessInto, preprocessWithHeaderInto, type PreprocessOptions } from './preprocess.js';
export { readImageHeader, type ImageHeader } from './decode.js';
export { preprocessFolder, MAX_FOLDER_IMAGES } from './folder.js';
export { sniffImageFormat, detectImageFormat, type ImageFormat } from './sniff.js';
