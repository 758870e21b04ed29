import { invalidArgument } from '../errors.js';

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

/**
 * Sides a recipe may resize to and crop to, in pixels. TorchVision's largest preset is 600/600 (efficientnet_b7); a
 * 1024 px crop is a 12 MiB tensor per image in flight, which the classifier's pool holds `maxBatch + 3` of.
 */
export const RECIPE_SIZE = Object.freeze({ min: 1, max: 1024 });

const RECIPE_KEYS = ['resizeSize', 'cropSize', 'interpolation', 'mean', 'std', 'antialias'] as const;

/**
 * A recipe from untrusted JSON (a `<stem>.json` beside a model, an ONNX file's metadata), checked strictly: only the
 * fields of {@link PreprocessRecipe} (`antialias` may be left out, and must be true when given: Pillow always
 * antialiases), whole sizes within {@link RECIPE_SIZE} with `resizeSize` ≥ `cropSize` (torchvision's presets never
 * pad), an interpolation of {@link INTERPOLATIONS}, and three finite means and three finite, positive stds.
 *
 * @param where - what the value is, for messages: `the recipe in model.json`.
 * @throws ResnetServeError INVALID_ARGUMENT naming the field, what it expects and what it received.
 */
export function checkRecipe(value: unknown, where: string): PreprocessRecipe {
  const fail = (field: string, expected: string, received: unknown): never => {
    throw invalidArgument(field === '' ? where : `${field} of ${where}`, expected, received);
  };
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return fail('', 'an object', value);
  const fields = value as Record<string, unknown>;
  const unknown = Object.keys(fields).find((key) => !(RECIPE_KEYS as readonly string[]).includes(key));
  if (unknown !== undefined) fail(unknown, `nothing: the recipe's fields are ${RECIPE_KEYS.join(', ')}`, fields[unknown]);
  const size = (field: 'resizeSize' | 'cropSize'): number => {
    const n = fields[field];
    if (typeof n !== 'number' || !Number.isInteger(n) || n < RECIPE_SIZE.min || n > RECIPE_SIZE.max) {
      return fail(field, `an integer from ${RECIPE_SIZE.min} to ${RECIPE_SIZE.max}`, n);
    }
    return n;
  };
  const triple = (field: 'mean' | 'std', positive: boolean): readonly [number, number, number] => {
    const list = fields[field];
    const fits = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v) && (!positive || v > 0);
    if (!Array.isArray(list) || list.length !== 3 || !list.every(fits)) {
      return fail(field, `three finite${positive ? ', positive' : ''} numbers (R, G, B)`, list);
    }
    const [r, g, b] = list as [number, number, number];
    return Object.freeze([r, g, b] as const);
  };
  const resizeSize = size('resizeSize');
  const cropSize = size('cropSize');
  if (resizeSize < cropSize) fail('resizeSize', `at least cropSize (${cropSize})`, resizeSize);
  const interpolation = fields.interpolation;
  if (typeof interpolation !== 'string' || !(INTERPOLATIONS as readonly string[]).includes(interpolation)) {
    fail('interpolation', `one of ${INTERPOLATIONS.join(', ')}`, interpolation);
  }
  if (fields.antialias !== undefined && fields.antialias !== true) fail('antialias', 'true (or nothing)', fields.antialias);
  return Object.freeze({
    resizeSize,
    cropSize,
    mean: triple('mean', false),
    std: triple('std', true),
    interpolation: interpolation as Interpolation,
    antialias: true,
  });
}

/** Number of floats in one image preprocessed with `recipe`: 3 × crop × crop. */
export function inputElements(recipe: PreprocessRecipe): number {
  return 3 * recipe.cropSize * recipe.cropSize;
}

/** Number of floats in one image preprocessed with {@link IMAGENET_RECIPE}: 3 × 224 × 224. */
export const INPUT_ELEMENTS = inputElements(IMAGENET_RECIPE);
