import { createHash } from 'node:crypto';
import { stat } from 'node:fs/promises';
import { resolve } from 'node:path';

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
