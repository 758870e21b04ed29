import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, readFile, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { writeFileAtomic } from './files.js';

/** What a remembered hash is kept with: the file it was computed from, as its size and modification time said then. */
interface HashRecord {
  readonly path: string;
  readonly size: number;
  readonly mtimeMs: number;
  readonly sha256: string;
}

/** `<cacheDir>/sha256/`: one small record per file hashed, named by its absolute path's hash. */
function recordPath(cacheDir: string, path: string): string {
  return join(cacheDir, 'sha256', `${createHash('sha256').update(resolve(path)).digest('hex').slice(0, 16)}.json`);
}

/**
 * The SHA-256 of a file, hex, computed once and remembered in `cacheDir` by the file's path, size and modification
 * time (as the model cache is keyed): a later call for the same unchanged file reads no byte of it (hashing
 * resnet50's 97.8 MB takes about 0.3 s). A record that cannot be written (a read-only cache) only costs a re-hash.
 *
 * @param cacheDir - where records live; undefined hashes without remembering.
 * @throws NodeJS.ErrnoException when the file cannot be read (callers turn it into their own code).
 */
export async function sha256OfFile(path: string, cacheDir: string | undefined): Promise<string> {
  const info = await stat(path);
  const record = cacheDir === undefined ? undefined : recordPath(cacheDir, path);
  if (record !== undefined) {
    const known = await readFile(record, 'utf8')
      .then((text) => JSON.parse(text) as Partial<HashRecord>)
      .catch(() => undefined);
    if (known?.path === resolve(path) && known.size === info.size && known.mtimeMs === info.mtimeMs && typeof known.sha256 === 'string') {
      return known.sha256;
    }
  }
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  const sha256 = hash.digest('hex');
  if (cacheDir !== undefined) await rememberSha256(cacheDir, path, sha256);
  return sha256;
}

/**
 * Records `sha256` as the hash of `path` as it is now (its size and modification time), for a file whose bytes the
 * caller hashed itself, e.g. while downloading it.
 */
export async function rememberSha256(cacheDir: string, path: string, sha256: string): Promise<void> {
  const info = await stat(path);
  const record: HashRecord = { path: resolve(path), size: info.size, mtimeMs: info.mtimeMs, sha256 };
  const target = recordPath(cacheDir, path);
  await mkdir(join(cacheDir, 'sha256'), { recursive: true })
    .then(() => writeFileAtomic(target, Buffer.from(`${JSON.stringify(record)}\n`)))
    .catch(() => undefined);
}
