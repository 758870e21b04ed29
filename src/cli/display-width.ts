/**
 * Terminal columns of text, for every table the command line prints: a Chinese label or a CJK path takes two
 * columns a character, a combining accent none, so `padEnd` (which counts UTF-16 code units) misaligns them.
 */

/**
 * East Asian Wide (W) and Fullwidth (F) code points, from Unicode's EastAsianWidth.txt (UAX #11), merged into
 * blocks: Hangul Jamo, CJK radicals to CJK compatibility (with kana, bopomofo and Hangul compatibility jamo),
 * CJK Unified Ideographs and Extension A, Yi, Hangul syllables, compatibility ideographs, vertical and small
 * forms, fullwidth forms, Tangut and kana supplements, planes 2-3; and the pictograph and emoji blocks whole
 * (most of their characters are W, and terminals draw them two columns wide).
 */
const WIDE: readonly (readonly [number, number])[] = [
  [0x1100, 0x115f],
  [0x231a, 0x231b],
  [0x2329, 0x232a],
  [0x2e80, 0x303e],
  [0x3041, 0x33ff],
  [0x3400, 0x4dbf],
  [0x4e00, 0x9fff],
  [0xa000, 0xa4cf],
  [0xa960, 0xa97f],
  [0xac00, 0xd7a3],
  [0xf900, 0xfaff],
  [0xfe10, 0xfe19],
  [0xfe30, 0xfe6f],
  [0xff00, 0xff60],
  [0xffe0, 0xffe6],
  [0x16fe0, 0x16fe4],
  [0x17000, 0x18cff],
  [0x1b000, 0x1b2ff],
  [0x1f300, 0x1f64f],
  [0x1f680, 0x1f6ff],
  [0x1f900, 0x1f9ff],
  [0x20000, 0x2fffd],
  [0x30000, 0x3fffd],
];

/** Combining marks (nonspacing, enclosing) and the zero-width formatting characters draw on the cell before them. */
const ZERO_WIDTH = /^[\p{Mn}\p{Me}\u200b-\u200f\u2060\ufeff]$/u;

function isWide(codePoint: number): boolean {
  return WIDE.some(([first, last]) => codePoint >= first && codePoint <= last);
}

/** How many terminal columns `text` takes: 2 for each wide or fullwidth character, 0 for each combining mark. */
export function displayWidth(text: string): number {
  let width = 0;
  for (const ch of text) {
    if (ZERO_WIDTH.test(ch)) continue;
    width += isWide(ch.codePointAt(0) ?? 0) ? 2 : 1;
  }
  return width;
}

/** `text` with spaces after it to `width` columns, as `padEnd` would be if it counted columns. */
export function padEndColumns(text: string, width: number): string {
  return text + ' '.repeat(Math.max(0, width - displayWidth(text)));
}

/** `text` with spaces before it to `width` columns. */
export function padStartColumns(text: string, width: number): string {
  return ' '.repeat(Math.max(0, width - displayWidth(text))) + text;
}

/** The widest of `texts` in columns (0 for none). */
export function maxColumns(texts: readonly string[]): number {
  return texts.reduce((widest, text) => Math.max(widest, displayWidth(text)), 0);
}
