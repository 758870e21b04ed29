import { open, readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { detectImageFormat } from '../image/sniff.js';

/** One file to classify: named on the command line, or found in a folder that was. */
export interface Input {
  readonly path: string;
  /** Found by walking a folder: skipped, not reported, when its bytes are not an image. */
  readonly fromFolder: boolean;
}

/**
 * The command line's operands with every folder replaced by the files under it, recursively, in code-point order
 * of their paths (the same on every machine, so shards and resumed runs agree on the list). Files keep their place;
 * what cannot be read is kept too, so that it is reported.
 */
export async function listInputs(operands: readonly string[]): Promise<Input[]> {
  const inputs: Input[] = [];
  for (const operand of operands) {
    const info = await stat(operand).catch(() => undefined);
    if (info?.isDirectory() === true) inputs.push(...(await walk(operand)).map((path) => ({ path, fromFolder: true })));
    else inputs.push({ path: operand, fromFolder: false });
  }
  return inputs;
}

async function walk(dir: string): Promise<string[]> {
  const found: string[] = [];
  const entries = await readdir(dir, { withFileTypes: true });
  for (const entry of entries) {
    const path = join(dir, entry.name);
    // Symbolic links to files count; to folders they do not (a link to an ancestor would never end).
    if (entry.isDirectory()) found.push(...(await walk(path)));
    else if (entry.isFile() || (entry.isSymbolicLink() && (await stat(path).catch(() => undefined))?.isFile() === true)) found.push(path);
  }
  return found.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
}

/** Enough leading bytes for every format `detectImageFormat` knows (ISO-BMFF brands included). */
const SNIFF_BYTES = 64;

/** True when the file's first bytes are an image format resnet-serve reads: judged by content, never by name. */
export async function looksLikeImage(path: string): Promise<boolean> {
  const handle = await open(path, 'r');
  try {
    const { buffer, bytesRead } = await handle.read(Buffer.alloc(SNIFF_BYTES), 0, SNIFF_BYTES, 0);
    return detectImageFormat(buffer.subarray(0, bytesRead)) !== undefined;
  } finally {
    await handle.close();
  }
}
