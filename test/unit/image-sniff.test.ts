import { describe, expect, it } from 'vitest';
import { detectImageFormat, sniffImageFormat } from '../../src/image/index.js';
import { thrownError } from '../helpers/errors.js';
import { readFixture } from './image-reference.js';

function ftyp(major: string, ...compatible: string[]): Uint8Array {
  const brands = [major, '\0\0\0\0', ...compatible].join('');
  const box = new Uint8Array(8 + brands.length);
  new DataView(box.buffer).setUint32(0, box.length);
  box.set(Buffer.from(`ftyp${brands}`, 'latin1'), 4);
  return box;
}

const errorCode = (run: () => unknown): string => thrownError(run).code;

describe('sniffImageFormat', () => {
  it.each([
    ['photo-500x375.jpg', 'jpeg'],
    ['alpha-260x230.png', 'png'],
    ['photo-320x256.webp', 'webp'],
    ['two-frames-250x250.gif', 'gif'],
    ['photo-160x140.tiff', 'tiff'],
    ['photo-320x240.avif', 'avif'],
    ['bmp-64x48.bmp', 'bmp'],
  ])('recognises %s as %s from its bytes', (file, format) => {
    expect(sniffImageFormat(readFixture(file))).toBe(format);
  });

  it('goes by content, not by name: PNG bytes in a .jpg are PNG', () => {
    expect(sniffImageFormat(readFixture('png-named.jpg'))).toBe('png');
  });

  it('tells AVIF from HEIC by the ftyp brands, including AVIF announced only as a compatible brand', () => {
    expect(detectImageFormat(ftyp('avif', 'mif1', 'miaf'))).toBe('avif');
    expect(detectImageFormat(ftyp('mif1', 'avif', 'miaf'))).toBe('avif');
    expect(detectImageFormat(ftyp('heic', 'mif1'))).toBe('heic');
    expect(detectImageFormat(ftyp('mif1', 'heic'))).toBe('heic');
    expect(detectImageFormat(ftyp('isom', 'mp42'))).toBeUndefined();
  });

  it('recognises big- and little-endian TIFF', () => {
    expect(detectImageFormat(Uint8Array.of(0x49, 0x49, 0x2a, 0x00, 8, 0, 0, 0))).toBe('tiff');
    expect(detectImageFormat(Uint8Array.of(0x4d, 0x4d, 0x00, 0x2a, 0, 0, 0, 8))).toBe('tiff');
  });

  it('does not take any text starting with "BM" for a bitmap', () => {
    expect(detectImageFormat(Buffer.from('BMW owners club newsletter, issue 12, spring edition'))).toBeUndefined();
  });

  it('zero bytes → FILE_EMPTY', () => {
    expect(errorCode(() => sniffImageFormat(new Uint8Array(0)))).toBe('FILE_EMPTY');
  });

  it('a text file named .jpg → UNSUPPORTED_MEDIA_TYPE', () => {
    expect(errorCode(() => sniffImageFormat(readFixture('text.jpg')))).toBe('UNSUPPORTED_MEDIA_TYPE');
  });

  it('a lone JPEG marker byte pair is too short to be a JPEG → UNSUPPORTED_MEDIA_TYPE', () => {
    expect(errorCode(() => sniffImageFormat(Uint8Array.of(0xff, 0xd8)))).toBe('UNSUPPORTED_MEDIA_TYPE');
  });
});
