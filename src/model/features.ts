/**
 * The optional graph output class activation maps are computed from: layer4's output after its final ReLU
 * (the tensor torchvision's `avgpool` reads), float32 [N, channels, FEATURE_GRID, FEATURE_GRID].
 * Its own module so the engine can name it without importing the converter.
 */
export const FEATURES_NAME = 'features';

/** Side of layer4's map: ResNet-18 has stride 32 overall (conv1, maxpool and layer2..4 each halve), 224 / 32. */
export const FEATURE_GRID = 7;
