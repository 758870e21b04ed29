/**
 * The optional graph output class activation maps are computed from: the tensor TorchVision's `avgpool` reads
 * (layer4's output after its final ReLU for a ResNet, `trunk_output`'s for a RegNet), float32
 * [N, channels, g, g], g the input side over the network's stride (7 for 224 px at stride 32).
 * Its own module so the engine can name it without importing the converter.
 */
export const FEATURES_NAME = 'features';
