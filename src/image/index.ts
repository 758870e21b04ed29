export { type ImageHeader, readImageHeader } from './decode.js';
export { MAX_FOLDER_IMAGES, preprocessFolder } from './folder.js';
export { MAX_PIXELS } from './limits.js';
export { decodedBytes, type PreprocessOptions, preprocess, preprocessInto, preprocessWithHeaderInto } from './preprocess.js';
export { detectImageFormat, type ImageFormat, sniffImageFormat } from './sniff.js';
