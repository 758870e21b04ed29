/**
 * The version of what `buildModel` writes; part of the model cache's key (src/setup/resolve-model.ts), so a model
 * cached by an older resnet-serve is converted again rather than served without what this one expects.
 * 2: the `features` output (layer4) that explanations read.
 * 3: the model contract in `metadata_props` (architecture, weights and their SHA-256, precision, recipe, labels).
 */
export const CONVERTER_VERSION = 3;
