import { stat } from 'node:fs/promises';
import { walkFolder } from '../image/folder-walk.js';

/** One file to classify: named on the command line, or found in a folder that was. */
export interface Input {
  readonly path: string;
  /** Found by walking a folder: skipped, not reported, when its bytes are not an image. */
  readonly fromFolder: boolean;
}

/**
 * The command line's operands with every folder replaced by the files under it, by the rules of `walkFolder`
 * (recursive, hidden names skipped, links followed, sorted the same on every machine, so shards and resumed runs
 * agree on the list). Files keep their place; what cannot be read is kept too, so that it is reported.
 *
 * @throws ResnetServeError INPUT_NOT_FOUND when a folder operand, or a folder under it, cannot be read.
 */
export async function listInputs(operands: readonly string[]): Promise<Input[]> {
  const inputs: Input[] = [];
  for (const operand of operands) {
    const info = await stat(operand).catch(() => undefined);
    if (info?.isDirectory() === true) inputs.push(...(await walkFolder(operand)).map((path) => ({ path, fromFolder: true })));
    else inputs.push({ path: operand, fromFolder: false });
  }
  return inputs;
}
