import { IMAGENET_LABELS_EN } from '../../../labels/imagenet-en.js';

/**
 * torchvision's names where TorchServe's `index_to_name.json` (pytorch/serve examples/image_classifier, the
 * file its ResNet-18 example ships) spells them otherwise, beyond spaces written as underscores. TorchServe's
 * file keeps WordNet's duplicate names, which torchvision disambiguates.
 */
const TORCHSERVE_SPELLING: Readonly<Record<number, string>> = Object.freeze({ 134: 'crane', 639: 'maillot' });

/**
 * The 1000 ImageNet names as TorchServe's image_classifier answers them (`"tiger_cat"`, `"Egyptian_cat"`), so
 * clients that look labels up in that file find them. A test checks them against the file's SHA-256.
 */
export const TORCHSERVE_LABELS: readonly string[] = Object.freeze(
  IMAGENET_LABELS_EN.map((name, index) => TORCHSERVE_SPELLING[index] ?? name.replaceAll(' ', '_')),
);
