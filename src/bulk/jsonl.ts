import { type FileHandle, mkdir, open, readFile, truncate } from 'node:fs/promises';
import { dirname } from 'node:path';

/**
 * The `file` of every complete line of a JSON Lines output, for `--resume`. A last line cut short (the run was
 * killed while writing it) is removed from the file, so that appending starts on a line of its own.
 */
export async function filesAlreadyDone(path: string): Promise<Set<string>> {
  const text = await readFile(path, 'utf8').catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') return '';
    throw error;
  });
  const complete = text.slice(0, text.lastIndexOf('\n') + 1);
  if (complete.length < text.length) await truncate(path, Buffer.byteLength(complete));
  const done = new Set<string>();
  for (const line of complete.split('\n')) {
    if (line === '') continue;
    const record = JSON.parse(line) as { file?: unknown };
    if (typeof record.file === 'string') done.add(record.file);
  }
  return done;
}

export interface JsonlWriter {
  /** Writes one record as one line; each line is one write to the file, so what was written survives a kill. */
  write(record: object): Promise<void>;
  close(): Promise<void>;
}

/** Opens `path` for JSON Lines (its folder made if need be): appended to with `append`, else started afresh. */
export async function openJsonl(path: string, append: boolean): Promise<JsonlWriter> {
  await mkdir(dirname(path), { recursive: true });
  const handle: FileHandle = await open(path, append ? 'a' : 'w');
  // Lines are written one after another, never interleaved, whatever order the records finish in.
  let tail: Promise<unknown> = Promise.resolve();
  return {
    write(record) {
      const written = tail.then(() => handle.write(`${JSON.stringify(record)}\n`));
      tail = written.catch(() => undefined);
      return written.then(() => undefined);
    },
    async close() {
      await tail;
      await handle.close();
    },
  };
}
