import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { crc32, deflateRawSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { openZip } from '../../src/weights/zip.js';
import { failure } from '../helpers/errors.js';

const fixture = (name: string): Uint8Array =>
  new Uint8Array(readFileSync(fileURLToPath(new URL(`../fixtures/weights/${name}`, import.meta.url))));

interface CraftedEntry {
  name: string;
  data: Uint8Array;
  deflate?: boolean;
  /** Overrides the uncompressed size written in the headers (to lie about it). */
  declaredSize?: number;
}

/** A minimal ZIP writer for crafting malformed archives (valid ones come from torch and Python fixtures). */
function craftZip(entries: CraftedEntry[], eocdCount?: number): Uint8Array {
  const locals: Buffer[] = [];
  const centrals: Buffer[] = [];
  let offset = 0;
  for (const entry of entries) {
    const name = Buffer.from(entry.name);
    const body = entry.deflate === true ? deflateRawSync(entry.data) : Buffer.from(entry.data);
    const size = entry.declaredSize ?? entry.data.byteLength;
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt16LE(entry.deflate === true ? 8 : 0, 8);
    local.writeUInt32LE(crc32(entry.data), 14);
    local.writeUInt32LE(body.byteLength, 18);
    local.writeUInt32LE(size, 22);
    local.writeUInt16LE(name.byteLength, 26);
    const central = Buffer.alloc(46);
    central.writeUInt32LE(0x02014b50, 0);
    central.writeUInt16LE(entry.deflate === true ? 8 : 0, 10);
    central.writeUInt32LE(crc32(entry.data), 16);
    central.writeUInt32LE(body.byteLength, 20);
    central.writeUInt32LE(size, 24);
    central.writeUInt16LE(name.byteLength, 28);
    central.writeUInt32LE(offset, 42);
    locals.push(local, name, body);
    centrals.push(central, name);
    offset += 30 + name.byteLength + body.byteLength;
  }
  const directory = Buffer.concat(centrals);
  const eocd = Buffer.alloc(22);
  eocd.writeUInt32LE(0x06054b50, 0);
  eocd.writeUInt16LE(eocdCount ?? entries.length, 8);
  eocd.writeUInt16LE(eocdCount ?? entries.length, 10);
  eocd.writeUInt32LE(directory.byteLength, 12);
  eocd.writeUInt32LE(offset, 16);
  return new Uint8Array(Buffer.concat([...locals, directory, eocd]));
}

describe('openZip', () => {
  it('lists a torch.save archive (ZIP64 end record, aligned local headers) and reads its records', () => {
    const zip = openZip(fixture('small-zip.pth'));
    expect([...zip.entries.keys()]).toContain('small-zip/data.pkl');
    expect(new TextDecoder().decode(zip.read('small-zip/byteorder'))).toBe('little');
  });

  it('reads stored and deflated entries of a crafted archive', () => {
    const text = new TextEncoder().encode('hello '.repeat(100));
    const zip = openZip(
      craftZip([
        { name: 'a', data: text },
        { name: 'b', data: text, deflate: true },
      ]),
    );
    expect(zip.read('a')).toEqual(text);
    expect(zip.read('b')).toEqual(text);
  });

  it('fails on a deflate bomb (inflates past its declared size) with CHECKPOINT_INVALID', () => {
    const bomb = new Uint8Array(4 * 1024 * 1024);
    const zip = openZip(craftZip([{ name: 'bomb', data: bomb, deflate: true, declaredSize: 16 }]));
    expect(failure(() => zip.read('bomb'))).toMatch(/^CHECKPOINT_INVALID: .*bomb/);
  });

  it('fails on a corrupted stored entry with CHECKPOINT_INVALID naming the CRC', () => {
    const bytes = craftZip([{ name: 'a', data: new Uint8Array([1, 2, 3, 4]) }]);
    bytes[31] = 99; // first data byte, after the 30-byte header and the 1-byte name
    expect(failure(() => openZip(bytes).read('a'))).toMatch(/^CHECKPOINT_INVALID: .*CRC-32/);
  });

  it('fails on an entry count the central directory cannot hold with CHECKPOINT_INVALID', () => {
    const bytes = craftZip([{ name: 'a', data: new Uint8Array(1) }], 65_535);
    expect(failure(() => openZip(bytes))).toMatch(/^CHECKPOINT_INVALID: .*65535 entries/);
  });

  it('fails on more entries than the limit with CHECKPOINT_INVALID', () => {
    const entries = Array.from({ length: 5 }, (_, i) => ({ name: `e${i}`, data: new Uint8Array(1) }));
    expect(failure(() => openZip(craftZip(entries), { maxEntries: 4 }))).toMatch(/^CHECKPOINT_INVALID: .*limit of 4/);
  });

  it('fails on a file without an end-of-central-directory record with CHECKPOINT_INVALID', () => {
    const bytes = fixture('small-zip.pth');
    expect(failure(() => openZip(bytes.subarray(0, bytes.byteLength - 30)))).toMatch(/^CHECKPOINT_INVALID: /);
  });

  it('fails on a central directory pointing past the file with CHECKPOINT_INVALID', () => {
    const bytes = craftZip([{ name: 'a', data: new Uint8Array(1) }]);
    new DataView(bytes.buffer).setUint32(bytes.byteLength - 6, 0x7fffffff, true);
    expect(failure(() => openZip(bytes))).toMatch(/^CHECKPOINT_INVALID: .*outside the file/);
  });

  it('fails on a missing entry with CHECKPOINT_INVALID naming it', () => {
    expect(failure(() => openZip(craftZip([])).read('nope'))).toMatch(/^CHECKPOINT_INVALID: .*"nope"/);
  });
});
