import type { Dirent } from 'node:fs';
import { open, readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { messageOf, ResnetServeError } from '../errors.js';
import { detectImageFormat } from './sniff.js';

/** One member of a folder, its symbolic link (if it is one) already followed. */
export interface FolderEntry {
  readonly name: string;
  /** `join(folder, name)`: the path as the user would type it, not the link's target. */
  readonly path: string;
  readonly kind: 'file' | 'folder';
}

/** JavaScript's string order (UTF-16 code units): the same on every machine and in every locale. */
const byName = (a: Dirent, b: Dirent): number => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);

/**
 * The members of `dir` by the walker's rules (see {@link walkFolder}), sorted by name: no hidden names, links
 * followed, nothing but files and folders.
 *
 * @throws ResnetServeError INPUT_NOT_FOUND when `dir` cannot be read.
 */
export async function readFolder(dir: string): Promise<FolderEntry[]> {
  const entries = await readdir(dir, { withFileTypes: true }).catch((cause: unknown) => {
    throw new ResnetServeError('INPUT_NOT_FOUND', `Cannot read the folder ${dir}: ${messageOf(cause)}`, { cause });
  });
  const members: FolderEntry[] = [];
  for (const entry of entries.sort(byName)) {
    if (entry.name.startsWith('.')) continue;
    const path = join(dir, entry.name);
    const kind = await kindOf(entry, path);
    if (kind !== undefined) members.push({ name: entry.name, path, kind });
  }
  return members;
}

async function kindOf(entry: Dirent, path: string): Promise<FolderEntry['kind'] | undefined> {
  if (entry.isFile()) return 'file';
  if (entry.isDirectory()) return 'folder';
  // Pipes, sockets and devices are never opened: reading a pipe could wait for ever.
  if (!entry.isSymbolicLink()) return undefined;
  const target = await stat(path).catch(() => undefined);
  // A dangling link (or one that cannot be followed) is listed, so that the caller reports it as unreadable.
  if (target === undefined) return 'file';
  if (target.isFile()) return 'file';
  return target.isDirectory() ? 'folder' : undefined;
}

/** A folder's identity whatever the path to it: links and bind mounts lead to the same device and inode. */
async function identity(dir: string): Promise<string> {
  const info = await stat(dir, { bigint: true }).catch((cause: unknown) => {
    throw new ResnetServeError('INPUT_NOT_FOUND', `Cannot read the folder ${dir}: ${messageOf(cause)}`, { cause });
  });
  return `${info.dev}:${info.ino}`;
}

/**
 * Every file under `root`, the one walk `classify FOLDER`, `eval` and `--calibration`/`--validate` share:
 * - **recursive**: sub-folders are walked, at any depth;
 * - **hidden names skipped**: files and folders whose name starts with `.` (`.DS_Store`, `.git/`, `.cache/`) below
 *   `root`; `root` itself is taken as named, dot or not;
 * - **links followed**: a symbolic link to a file is that file, one to a folder is walked like a folder, under the
 *   link's own path; a link back to a folder being walked (its own ancestor, by device and inode) is not walked
 *   again, so a cycle ends. A dangling link is listed, so that it is reported as unreadable rather than lost;
 * - **only files and folders**: pipes, sockets and devices are skipped unopened;
 * - **a stable order**: depth first, each folder's members sorted by name in JavaScript's string order (UTF-16 code
 *   units), files and sub-folders together, so every machine and every shard lists the same sequence;
 * - **names never judge content**: every file is listed whatever its extension. Which files are images is decided
 *   by their leading bytes ({@link looksLikeImage}, the sniffer of image/sniff.ts): classify and calibration skip
 *   the others, eval counts them as unreadable (a labelled set says each of its files is an image).
 *
 * @throws ResnetServeError INPUT_NOT_FOUND naming the folder when `root` or a folder under it cannot be read: a
 *   listing that silently lacked a sub-folder would lose its images without a word.
 * @example walkFolder('photos') // → ['photos/a.jpg', 'photos/b/c.png', 'photos/b-d.jpg', 'photos/notes.txt']
 */
export async function walkFolder(root: string): Promise<string[]> {
  const files: string[] = [];
  const ancestors = new Set<string>();
  const visit = async (dir: string): Promise<void> => {
    const id = await identity(dir);
    if (ancestors.has(id)) return;
    ancestors.add(id);
    for (const member of await readFolder(dir)) {
      if (member.kind === 'file') files.push(member.path);
      else await visit(member.path);
    }
    ancestors.delete(id);
  };
  await visit(root);
  return files;
}

/** Enough leading bytes for every format `detectImageFormat` knows (ISO-BMFF brands included). */
const SNIFF_BYTES = 64;

/**
 * True when the file's first bytes are an image format resnet-serve recognises: judged by content, never by name.
 * Recognised but undecodable formats (BMP, HEIC) count, so that classifying them reports why they were refused.
 *
 * @throws the file system's error when the file cannot be opened.
 */
export async function looksLikeImage(path: string): Promise<boolean> {
  const handle = await open(path, 'r');
  try {
    const { buffer, bytesRead } = await handle.read(Buffer.alloc(SNIFF_BYTES), 0, SNIFF_BYTES, 0);
    return detectImageFormat(buffer.subarray(0, bytesRead)) !== undefined;
  } finally {
    await handle.close();
  }
}
