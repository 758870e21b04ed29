export { IMAGENET_LABELS_EN } from './imagenet-en.js';
export { IMAGENET_LABELS_ZH } from './imagenet-zh.js';
export { IMAGENET_LABELS, labelFor, type LabelSet } from './label-set.js';
export { postprocess, softmax, type PostprocessOptions } from './postprocess.js';
