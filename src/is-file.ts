import { stat } from 'node:fs/promises';

/** True when `path` names a regular file this process can stat: how the caches tell a hit from a miss. */
export async function isFile(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isFile();
  } catch {
    return false;
  }
}
