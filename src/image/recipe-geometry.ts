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

/** A rectangle in the original image's pixel coordinates (after EXIF orientation), edges as real numbers. */
export interface CropBox {
  left: number;
  top: number;
  width: number;
  height: number;
}

/**
 * Where the model looked: the part of the upright image that the recipe's Resize + CenterCrop turns into the 224 × 224
 * input, i.e. what the CAM's grid covers (each of its 7 × 7 cells is a seventh of the box on each side).
 *
 * Resize maps output pixel edge x' to input coordinate x' · (width / resizedWidth) (PIL's and torchvision's
 * convention: scale = in / out, pixel centres at +0.5 on both sides), so the crop [cropLeft, cropLeft + 224) of the
 * resized image covers [cropLeft · sx, (cropLeft + 224) · sx) of the original; likewise vertically with sy. sx and sy
 * differ slightly because the longer resized side is truncated.
 *
 * @param width - upright width (after EXIF orientation), as `readImageHeader` reports it.
 * @param height - upright height.
 * @example cropBox(500, 375) // → { left: 85.04…, top: 23.4375, width: 328.44…, height: 328.125 } (resized 341×256)
 */
export function cropBox(width: number, height: number, recipe: PreprocessRecipe = IMAGENET_RECIPE): CropBox {
  const g = recipeGeometry(width, height, recipe);
  const sx = width / g.resizedWidth;
  const sy = height / g.resizedHeight;
  return { left: g.cropLeft * sx, top: g.cropTop * sy, width: g.cropSize * sx, height: g.cropSize * sy };
}
