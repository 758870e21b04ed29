export { IMAGENET_LABELS_EN } from './imagenet-en.js';
export { IMAGENET_LABELS_ZH } from './imagenet-zh.js';
export { IMAGENET_LABELS, type LabelSet, labelFor } from './label-set.js';
export { type PostprocessOptions, postprocess, softmax, TOP_K } from './postprocess.js';
