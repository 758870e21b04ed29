import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { readUpload } from '../../src/server/upload.js';

/** A part's stream as busboy hands it over: chunks, then `truncated` when the size limit cut it. */
function part(bytes: Buffer, chunkBytes: number, truncated = false): Readable & { truncated: boolean } {
  const chunks: Buffer[] = [];
  for (let i = 0; i < bytes.length; i += chunkBytes) chunks.push(bytes.subarray(i, i + chunkBytes));
  return Object.assign(Readable.from(chunks), { truncated });
}

describe('readUpload', () => {
  const file = randomBytes(700_000);

  it('returns exactly the part, in a buffer sized from Content-Length', async () => {
    const bytes = await readUpload(part(file, 65_536), file.length + 300, 10_000_000);
    expect(bytes?.equals(file)).toBe(true);
    expect(bytes?.buffer.byteLength).toBeLessThanOrEqual(file.length + 300);
  });

  it('grows its buffer for a chunked body (no Content-Length) and still returns exactly the part', async () => {
    const bytes = await readUpload(part(file, 16_384), Number.NaN, 10_000_000);
    expect(bytes?.equals(file)).toBe(true);
  });

  it('never allocates past the limit, whatever Content-Length claims', async () => {
    const bytes = await readUpload(part(file, 65_536), 1e12, 800_000);
    expect(bytes?.equals(file)).toBe(true);
    expect(bytes?.buffer.byteLength).toBeLessThanOrEqual(800_000);
  });

  it('answers undefined for a part the size limit truncated', async () => {
    expect(await readUpload(part(file.subarray(0, 1000), 512, true), Number.NaN, 1000)).toBeUndefined();
  });
});
