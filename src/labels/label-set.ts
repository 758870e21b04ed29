import { IMAGENET_LABELS_EN } from './imagenet-en.js';
import { IMAGENET_LABELS_ZH } from './imagenet-zh.js';
import type { Lang } from './types.js';

/** Class names in both display languages, index for index with the model's output. */
export interface LabelSet {
  readonly en: readonly string[];
  readonly zh: readonly string[];
}

/** torchvision's ImageNet-1k names and their reviewed Simplified-Chinese counterparts. */
export const IMAGENET_LABELS: LabelSet = Object.freeze({ en: IMAGENET_LABELS_EN, zh: IMAGENET_LABELS_ZH });

/**
 * The name of class `index` in `lang`, or `class_<index>` when the label set has no entry for it
 * (a model with another number of classes, e.g. a small test network).
 *
 * @param index - Class index from the model output.
 * @param lang - Display language. Default `'en'`.
 * @param labels - Default `IMAGENET_LABELS`.
 * @example
 * labelFor(281) // → 'tabby'
 * labelFor(281, 'zh') // → '虎斑猫'
 */
export function labelFor(index: number, lang: Lang = 'en', labels: LabelSet = IMAGENET_LABELS): string {
  return labels[lang][index] ?? `class_${index}`;
}
