/**
 * torchvision's `ResNet18_Weights.IMAGENET1K_V1.transforms()`: `ImageClassification(crop_size=224)`
 * (torchvision/transforms/_presets.py), i.e. Resize(256, bilinear, antialias=True) of the shorter side,
 * CenterCrop(224) with offsets `int(round((size - 224) / 2.0))`, ToTensor (/255), Normalize(mean, std).
 */
export const IMAGENET_RECIPE = Object.freeze({
  resizeSize: 256,
  cropSize: 224,
  mean: Object.freeze([0.485, 0.456, 0.406] as const),
  std: Object.freeze([0.229, 0.224, 0.225] as const),
  interpolation: 'bilinear',
  antialias: true,
} as const);

/** Number of floats in one preprocessed image: 3 × 224 × 224. */
export const INPUT_ELEMENTS = 3 * IMAGENET_RECIPE.cropSize * IMAGENET_RECIPE.cropSize;
