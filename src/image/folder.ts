import { readFile } from 'node:fs/promises';
import { inContext, isResnetServeError, ResnetServeError } from '../errors.js';
import { walkFolder } from './folder-walk.js';
import { preprocess } from './preprocess.js';
import type { PreprocessRecipe } from './recipe.js';
import { detectImageFormat } from './sniff.js';

/** Calibration and validation sets beyond this add time, not accuracy (ORT's own tools use a few hundred). */
export const MAX_FOLDER_IMAGES = 1000;

/**
 * Preprocesses the images under `dir`, found by the folder walker's rules (`walkFolder`: recursive, hidden names
 * skipped, links followed, sorted), for `--calibration` and `--validate`. Images are judged by content; other
 * files, and files that cannot be read, are skipped.
 *
 * @param recipe - the model's preprocessing; default ResNet-18 IMAGENET1K_V1's.
 * @returns one normalised CHW tensor per image, at most `maxImages`, in the walk's order.
 * @throws ResnetServeError INPUT_NOT_FOUND when the folder (or one under it) cannot be read or holds no image;
 *   IMAGE_CORRUPT / IMAGE_TOO_LARGE / UNSUPPORTED_MEDIA_TYPE naming the file that failed.
 */
export async function preprocessFolder(
  dir: string,
  recipe?: PreprocessRecipe,
  maxImages: number = MAX_FOLDER_IMAGES,
): Promise<Float32Array[]> {
  const tensors: Float32Array[] = [];
  for (const path of await walkFolder(dir)) {
    if (tensors.length >= maxImages) break;
    const bytes = await readFile(path).catch(() => undefined);
    if (bytes === undefined || detectImageFormat(bytes) === undefined) continue;
    try {
      tensors.push(await preprocess(bytes, { recipe }));
    } catch (error) {
      if (isResnetServeError(error)) throw inContext(error, path);
      throw error;
    }
  }
  if (tensors.length === 0) throw new ResnetServeError('INPUT_NOT_FOUND', `The folder ${dir} holds no image resnet-serve can read.`);
  return tensors;
}
