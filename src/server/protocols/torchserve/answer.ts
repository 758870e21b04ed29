import { IMAGENET_LABELS_EN } from '../../../labels/imagenet-en.js';
import type { Prediction } from '../../../labels/types.js';
import { TORCHSERVE_LABELS } from './labels.js';

/** Classes in TorchServe's image_classifier answer (`ImageClassifier.topk`, ts/torch_handler/image_classifier.py). */
export const TORCHSERVE_TOP_K = 5;

/**
 * TorchServe's image_classifier answer: `{label: probability}`, most probable first, as its
 * `map_class_to_label` builds it (ts/utils/util.py), as JSON text. Names TorchServe spells twice (`crane`,
 * `maillot`) collapse into one key as in its dict; a model whose classes are not ImageNet's answers by index.
 * Written by hand because a JS object would list index keys ("3", "17") in numeric order, not by probability.
 */
export function torchserveAnswer(predictions: readonly Prediction[]): string {
  const answer = new Map<string, number>();
  for (const { index, label, probability } of predictions) {
    const imagenet = label === IMAGENET_LABELS_EN[index];
    answer.set(imagenet ? (TORCHSERVE_LABELS[index] ?? label) : String(index), probability);
  }
  return `{${[...answer].map(([key, value]) => `${JSON.stringify(key)}:${JSON.stringify(value)}`).join(',')}}`;
}
