import { IMAGENET_RECIPE, type PreprocessRecipe } from './recipe.js';

/** Where the recipe puts an image: the size after Resize and the top-left corner of the CenterCrop. */
export interface RecipeGeometry {
  resizedWidth: number;
  resizedHeight: number;
  cropTop: number;
  cropLeft: number;
  cropSize: number;
}

/**
 * torchvision `_compute_resized_output_size(image_size, [size])` (transforms/functional.py): the shorter
 * side becomes `size` and the longer one `int(size * long / short)` — truncated, not rounded; a square
 * stays square because `w <= h` picks the width as the short side.
 */
export function resizedSize(width: number, height: number, size: number): { width: number; height: number } {
  const [short, long] = width <= height ? [width, height] : [height, width];
  const newLong = Math.trunc((size * long) / short);
  return width <= height ? { width: size, height: newLong } : { width: newLong, height: size };
}

/**
 * Python's `round()` rounds half to even; torchvision's `center_crop` uses `int(round((h - crop) / 2.0))`,
 * so an odd margin of 181 gives 90, not 91.
 */
export function roundHalfToEven(value: number): number {
  const floor = Math.floor(value);
  const diff = value - floor;
  if (diff > 0.5) return floor + 1;
  if (diff < 0.5) return floor;
  return floor % 2 === 0 ? floor : floor + 1;
}

/**
 * The Resize + CenterCrop geometry of `recipe` (default {@link IMAGENET_RECIPE}) for an upright image of
 * `width` × `height`. Every torchvision preset has `resizeSize` ≥ `cropSize`, so both resized sides are at
 * least the crop and torchvision's padding branch never applies.
 */
export function recipeGeometry(
  width: number,
  height: number,
  recipe: Pick<PreprocessRecipe, 'resizeSize' | 'cropSize'> = IMAGENET_RECIPE,
): RecipeGeometry {
  const resized = resizedSize(width, height, recipe.resizeSize);
  return {
    resizedWidth: resized.width,
    resizedHeight: resized.height,
    cropTop: roundHalfToEven((resized.height - recipe.cropSize) / 2),
    cropLeft: roundHalfToEven((resized.width - recipe.cropSize) / 2),
    cropSize: recipe.cropSize,
  };
}
