import { readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { DECODABLE, DECODABLE_LIST, DECODABLE_NAMES, FORMAT_NAMES } from '../../src/image/formats.js';
import { sniffDecodableFormat, sniffImageFormat } from '../../src/image/sniff.js';
import { choiceList, t } from '../../src/web/i18n.js';
import { thrownError } from '../helpers/errors.js';
import { readFixture } from './image-reference.js';

const ALL_NAMES = Object.values(FORMAT_NAMES);
const UNDECODABLE = Object.entries(FORMAT_NAMES).filter(([format]) => !(DECODABLE as readonly string[]).includes(format));
/** Three or more format names in a row, as prose lists them ("A, B or C", "A, B, C", wrapped or not). */
const ENUMERATION = new RegExp(`\\b(?:${ALL_NAMES.join('|')})(?:(?:,\\s*|\\s+or\\s+)(?:${ALL_NAMES.join('|')})\\b){2,}`, 'g');

const repoFile = (path: string): string => readFileSync(new URL(`../../${path}`, import.meta.url), 'utf8');
const docs = (): { path: string; text: string }[] => [
  { path: 'README.md', text: repoFile('README.md') },
  ...readdirSync(new URL('../../docs/', import.meta.url))
    .filter((name) => name.endsWith('.md'))
    .map((name) => ({ path: `docs/${name}`, text: repoFile(`docs/${name}`) })),
];

describe('DECODABLE: the one list of formats', () => {
  it('names the six formats the bundled sharp decodes, in English as "A, B … or F"', () => {
    expect(DECODABLE_NAMES).toEqual(['JPEG', 'PNG', 'WebP', 'GIF', 'AVIF', 'TIFF']);
    expect(DECODABLE_LIST).toBe('JPEG, PNG, WebP, GIF, AVIF or TIFF');
    expect(UNDECODABLE.map(([, name]) => name).sort()).toEqual(['BMP', 'HEIC']);
  });

  it('is what the sniffer’s refusal names, and what the routes answer 415 with', () => {
    const refusal = thrownError(() => sniffImageFormat(readFixture('text.jpg')));
    expect(refusal.code).toBe('UNSUPPORTED_MEDIA_TYPE');
    expect(refusal.message).toBe(`The file is not a ${DECODABLE_LIST} image (judged by its content, not its name).`);
  });

  it('refuses BMP and HEIC by name at admission, with their format in the details', () => {
    const heic = new Uint8Array(64);
    heic.set(Buffer.from('\0\0\0\x18ftypheic\0\0\0\0mif1heic', 'latin1'));
    for (const [bytes, format] of [
      [readFixture('bmp-64x48.bmp'), 'bmp'],
      [heic, 'heic'],
    ] as const) {
      const refusal = thrownError(() => sniffDecodableFormat(bytes));
      expect(refusal).toMatchObject({ code: 'UNSUPPORTED_MEDIA_TYPE', details: { format } });
      expect(refusal.message).toContain(FORMAT_NAMES[format]);
    }
    expect(sniffDecodableFormat(readFixture('photo-320x240.avif'))).toBe('avif');
  });

  it('the README and docs/ list exactly DECODABLE wherever they list formats, and show the real refusal', () => {
    const lists = docs().flatMap(({ path, text }) => [...text.matchAll(ENUMERATION)].map((m) => [path, m[0].replace(/\s+/g, ' ')]));
    expect(lists.length).toBeGreaterThan(0);
    for (const [path, list] of lists) expect([path, list]).toEqual([path, DECODABLE_LIST]);
    const refusal = thrownError(() => sniffImageFormat(readFixture('text.jpg')));
    expect(repoFile('README.md')).toContain(JSON.stringify({ error: refusal.message, code: refusal.code }));
  });

  it('the page writes no format itself: its hint and its refusal are filled from the list, in both languages', () => {
    for (const key of ['dropHint', 'wrongType'] as const) {
      for (const lang of ['en', 'zh'] as const) {
        expect(t(lang, key, { max: '10 MB' })).toContain('{formats}');
        expect(t(lang, key, { max: '10 MB' })).not.toMatch(new RegExp(ALL_NAMES.join('|')));
        const filled = t(lang, key, { max: '10 MB', formats: choiceList(lang, DECODABLE_NAMES) });
        for (const name of DECODABLE_NAMES) expect(filled).toContain(name);
      }
    }
    expect(t('en', 'wrongType', { formats: choiceList('en', DECODABLE_NAMES) })).toBe(
      `That file is not an image. Choose a ${DECODABLE_LIST} photo.`,
    );
    expect(choiceList('zh', DECODABLE_NAMES)).toBe('JPEG、PNG、WebP、GIF、AVIF 或 TIFF');
    expect(repoFile('src/web/index.html')).not.toMatch(new RegExp(`\\b(?:${ALL_NAMES.join('|')})\\b`));
  });

  it('the built page carries the list (scripts/build-web.mjs defines it from dist/image/formats.js)', () => {
    expect(repoFile('dist/web/app.js')).toContain(JSON.stringify(DECODABLE_NAMES));
  });
});
