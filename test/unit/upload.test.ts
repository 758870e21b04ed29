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

  it('answers undefined as soon as busboy signals the limit, without waiting for the part to end', async () => {
    // A part that never ends: busboy emits `limit` once it has pushed the limit's worth, then keeps discarding.
    let pushed = 0;
    const endless = Object.assign(
      new Readable({
        read() {
          pushed += 16_384;
          this.push(Buffer.alloc(16_384));
          if (pushed >= 65_536 && !endless.truncated) {
            endless.truncated = true;
            this.emit('limit');
          }
        },
      }),
      { truncated: false },
    );
    expect(await readUpload(endless, Number.NaN, 65_536)).toBeUndefined();
    expect(endless.destroyed).toBe(true);
  });
});
