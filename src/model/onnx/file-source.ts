import { open } from 'node:fs/promises';
import type { ByteSource } from './read.js';

// The Node half of read.ts, apart so that the reader bundles into the page's worker without `node:fs`.

const WINDOW = 64 * 1024;

/** Reads `path` through 64 KB windows, so walking the many small fields near each other costs few reads. */
export async function fileSource(path: string): Promise<ByteSource> {
  const handle = await open(path, 'r');
  const size = (await handle.stat()).size;
  let windowStart = 0;
  let window = new Uint8Array(0);
  return {
    size,
    async read(position, length) {
      if (position >= windowStart && position + length <= windowStart + window.length) {
        return window.subarray(position - windowStart, position - windowStart + length);
      }
      const buffer = new Uint8Array(Math.min(Math.max(length, WINDOW), size - position));
      const { bytesRead } = await handle.read(buffer, 0, buffer.length, position);
      windowStart = position;
      window = buffer.subarray(0, bytesRead);
      return window.subarray(0, Math.min(length, bytesRead));
    },
    close: () => handle.close(),
  };
}
