import { createHash } from 'node:crypto';
import { rename, rm, stat, writeFile } from 'node:fs/promises';
import { resolve } from 'node:path';

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

/**
 * A cache key for what was made from a file: its absolute path, size and modification time, plus whatever
 * else the product depends on (`extra`). Stat-based rather than a content hash, so a cached start reads no
 * weights at all (hashing the 46.8 MB checkpoint cost ~100 ms of every start).
 *
 * @returns 16 hex digits.
 */
export async function fileKey(path: string, ...extra: readonly string[]): Promise<string> {
  const info = await stat(path);
  return createHash('sha256')
    .update([resolve(path), info.size, info.mtimeMs, ...extra].join('\0'))
    .digest('hex')
    .slice(0, 16);
}

/** True when `path` names a regular file this process can stat: how the caches tell a hit from a miss. */
export async function isFile(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isFile();
  } catch {
    return false;
  }
}
