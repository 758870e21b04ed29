import { rename, rm, writeFile } from 'node:fs/promises';

/**
 * Writes `data` beside `path` and renames it into place, so a crash or a full disk never leaves a
 * half-written file under the real name (rename is atomic within one file system).
 */
export async function writeFileAtomic(path: string, data: Uint8Array): Promise<void> {
  const part = `${path}.${process.pid}.part`;
  try {
    await writeFile(part, data);
    await rename(part, path);
  } finally {
    await rm(part, { force: true });
  }
}
