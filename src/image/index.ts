export { type ImageHeader, readImageHeader } from './decode.js';
export { MAX_FOLDER_IMAGES, preprocessFolder } from './folder.js';
export { DECODABLE, DECODABLE_LIST, type ImageFormat } from './formats.js';
export { MAX_PIXELS } from './limits.js';
export { decodedBytes, type PreprocessOptions, preprocess, preprocessInto, preprocessWithHeaderInto } from './preprocess.js';
export { detectImageFormat, sniffDecodableFormat, sniffImageFormat } from './sniff.js';
