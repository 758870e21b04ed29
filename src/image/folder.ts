import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { inContext, isResnetServeError, ResnetServeError } from '../errors.js';
import { preprocess } from './preprocess.js';
import { detectImageFormat } from './sniff.js';

/** Calibration and validation sets beyond this add time, not accuracy (ORT's own tools use a few hundred). */
export const MAX_FOLDER_IMAGES = 1000;

/**
 * Preprocesses every image in `dir` (judged by content; other files are skipped), in name order, for
 * `--calibration` and `--validate`.
 *
 * @returns one normalised CHW tensor per image, at most `maxImages`.
 * @throws ResnetServeError INPUT_NOT_FOUND when the folder cannot be read or holds no image;
 *   IMAGE_CORRUPT / IMAGE_TOO_LARGE naming the file that failed.
 */
export async function preprocessFolder(dir: string, maxImages: number = MAX_FOLDER_IMAGES): Promise<Float32Array[]> {
  const names = await readdir(dir).catch((cause: unknown) => {
    throw new ResnetServeError('INPUT_NOT_FOUND', `Cannot read the image folder ${dir}.`, { cause });
  });
  const tensors: Float32Array[] = [];
  for (const name of names.sort()) {
    if (tensors.length >= maxImages) break;
    const bytes = await readFile(join(dir, name)).catch(() => undefined);
    if (bytes === undefined || detectImageFormat(bytes) === undefined) continue;
    try {
      tensors.push(await preprocess(bytes));
    } catch (error) {
      if (isResnetServeError(error)) throw inContext(error, join(dir, name));
      throw error;
    }
  }
  if (tensors.length === 0) throw new ResnetServeError('INPUT_NOT_FOUND', `The folder ${dir} holds no image resnet-serve can read.`);
  return tensors;
}
