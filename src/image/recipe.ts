/**
 * The resampling filters of torchvision's `InterpolationMode` that resnet-serve reproduces exactly (through
 * Pillow's antialiased filters, as torchvision uses them on a PIL image): BILINEAR for the ResNet weights,
 * BICUBIC for EfficientNet's.
 */
export const INTERPOLATIONS = Object.freeze(['bilinear', 'bicubic'] as const);
export type Interpolation = (typeof INTERPOLATIONS)[number];

/**
 * The fields of torchvision's `ImageClassification` preset (torchvision/transforms/_presets.py), which every
 * classification weights' `transforms()` returns: Resize(resizeSize, interpolation, antialias=True) of the
 * shorter side, CenterCrop(cropSize), ToTensor, Normalize(mean, std).
 */
export interface PreprocessRecipe {
  readonly resizeSize: number;
  readonly cropSize: number;
  readonly mean: readonly [number, number, number];
  readonly std: readonly [number, number, number];
  readonly interpolation: Interpolation;
  /** Always true: torchvision's presets antialias, and Pillow (what torchvision calls on a PIL image) always does. */
  readonly antialias: true;
}

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
} as const) satisfies PreprocessRecipe;

/** Number of floats in one image preprocessed with `recipe`: 3 × crop × crop. */
export function inputElements(recipe: PreprocessRecipe): number {
  return 3 * recipe.cropSize * recipe.cropSize;
}

/** Number of floats in one image preprocessed with {@link IMAGENET_RECIPE}: 3 × 224 × 224. */
export const INPUT_ELEMENTS = inputElements(IMAGENET_RECIPE);
