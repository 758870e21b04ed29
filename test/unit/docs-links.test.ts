import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, normalize } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const PAGES = ['README.md', ...readdirSync(join(ROOT, 'docs')).flatMap((name) => (name.endsWith('.md') ? [`docs/${name}`] : []))];

/** A heading's anchor as GitHub makes it: lower case, punctuation dropped (letters of any script kept), spaces to hyphens. */
const slug = (heading: string): string =>
  heading
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\s_-]/gu, '')
    .replace(/\s/g, '-');

/** The page's text outside fenced blocks, where links are links. */
const prose = (text: string): string => text.replace(/^```[^\n]*\n[\s\S]*?^```$/gm, '');
const anchorsOf = (text: string): Set<string> => new Set([...prose(text).matchAll(/^#{1,6} (.+)$/gm)].map((m) => slug(m[1]!)));

describe('the documentation’s links', () => {
  it('make the anchors GitHub makes', () => {
    expect(slug('Accuracy on your labelled photos: `resnet-serve eval`')).toBe('accuracy-on-your-labelled-photos-resnet-serve-eval');
    expect(slug('Run on this device / 在本设备上运行')).toBe('run-on-this-device--在本设备上运行');
  });

  it('every relative link of README.md and docs/ names a file that exists, and a heading of it that exists', () => {
    const broken: string[] = [];
    let checked = 0;
    for (const page of PAGES) {
      const text = readFileSync(join(ROOT, page), 'utf8');
      for (const [, target] of prose(text).matchAll(/\]\(([^)\s]+)\)/g)) {
        if (/^[a-z]+:/.test(target!)) continue;
        checked++;
        const [file, anchor] = target!.split('#') as [string, string | undefined];
        const path = file === '' ? page : normalize(join(dirname(page), file));
        if (!existsSync(join(ROOT, path))) broken.push(`${page}: ${target} (no ${path})`);
        else if (anchor !== undefined && !anchorsOf(readFileSync(join(ROOT, path), 'utf8')).has(decodeURIComponent(anchor))) {
          broken.push(`${page}: ${target} (no heading #${anchor} in ${path})`);
        }
      }
    }
    expect(checked).toBeGreaterThan(30);
    expect(broken).toEqual([]);
  });

  it('every page of docs/ is reachable from the README', () => {
    const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
    for (const page of PAGES.filter((path) => path.startsWith('docs/'))) expect([page, readme.includes(`](${page}`)]).toEqual([page, true]);
  });
});
