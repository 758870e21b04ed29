import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  ARCHITECTURES_SECTION,
  architecturesSection,
  benchmarksSection,
  parseResults,
  QUOTING_PAGES,
  readmeArchitectures,
  readmeHeadline,
} from '../../bench/lib/results-docs.mjs';
import { replaceSection, sectionOf } from '../../scripts/doc-sections.mjs';

const repoFile = (path: string): string => readFileSync(new URL(`../../${path}`, import.meta.url), 'utf8');
const RESULTS = repoFile('bench/results.md');

describe('the documentation’s benchmark figures', () => {
  it('are, on every quoting page, what bench/lib/results-docs.mjs makes of the committed bench/results.md', () => {
    expect(QUOTING_PAGES.map((page) => page.path)).toEqual(['docs/benchmarks.md', 'README.md', 'docs/models.md', 'README.md']);
    for (const page of QUOTING_PAGES) {
      expect([page.path, sectionOf(repoFile(page.path), page.section)]).toEqual([page.path, page.make(RESULTS)]);
    }
  });

  it('quote the results table’s rows cell for cell, and name the CPU', () => {
    const results = parseResults(RESULTS);
    const inference = results.rows.find((row) => row[0] === 'per-image inference, mean');
    expect(inference).toBeDefined();
    expect(benchmarksSection(RESULTS)).toContain(`| ${inference!.join(' | ')} |`);
    const cpu = results.context
      .find((line) => line.startsWith('CPU: '))!
      .slice(5)
      .split(';')[0]!;
    expect(readmeHeadline(RESULTS)).toContain(`on ${cpu},`);
    // The README's ratios are the table's ratio columns, fp32 then int8.
    const ratios = results.header.flatMap((label, i) => (label.includes(' / ') ? [inference![i]] : []));
    expect(ratios.length).toBe(2);
    expect(readmeHeadline(RESULTS)).toContain(`inference per image ${ratios.join(' / ')}`);
  });

  it('follow a new run: other results give other pages', () => {
    const changed = RESULTS.replace(/^\| per-image inference, mean \| ms \| [^|]+\|/m, '| per-image inference, mean | ms | 99.9 |');
    expect(changed).not.toBe(RESULTS);
    expect(benchmarksSection(changed)).toContain('| per-image inference, mean | ms | 99.9 |');
    expect(benchmarksSection(changed)).not.toBe(benchmarksSection(RESULTS));
  });

  it('replace only what lies between a section’s markers, and refuse a page without them', () => {
    const page = 'before\n<!-- bench:x -->\nold\n<!-- /bench:x -->\nafter\n';
    expect(replaceSection(page, 'bench:x', 'new')).toBe('before\n<!-- bench:x -->\nnew\n<!-- /bench:x -->\nafter\n');
    expect(sectionOf(replaceSection(page, 'bench:x', 'new'), 'bench:x')).toBe('new');
    expect(() => replaceSection('no markers', 'bench:x', 'new')).toThrow(/no <!-- bench:x -->/);
  });

  it('quote the architectures table in docs/models.md, and keep it out of the main table’s notes', () => {
    const section = sectionOf(RESULTS, ARCHITECTURES_SECTION);
    expect(section).toBeDefined();
    const table = section!.split('\n').filter((line) => line.startsWith('| '));
    expect(table.length).toBeGreaterThan(2);
    for (const line of table) expect(architecturesSection(RESULTS)).toContain(line);
    expect(architecturesSection(RESULTS)).toMatch(/^- CPU: /m);
    const notes = parseResults(RESULTS).notes.join('\n');
    expect(notes).not.toContain('inference p50');
    expect(benchmarksSection(RESULTS)).not.toContain(table[0]!);
    // Results without the section (before its first run) still make a page, saying how to fill it.
    expect(architecturesSection('# results\n')).toMatch(/Not measured yet/);
  });

  it('refuse results without a table rather than write empty pages', () => {
    expect(() => parseResults('# nothing here\n')).toThrow(/no results table/);
  });

  it("quote in the README the architectures table's rows, a few columns each, with the run's CPU", () => {
    const section = sectionOf(RESULTS, ARCHITECTURES_SECTION)!;
    const rows = section.split('\n').filter((line) => line.startsWith('| `'));
    const readme = readmeArchitectures(RESULTS);
    expect(readme.split('\n').filter((line) => line.startsWith('| `'))).toHaveLength(rows.length);
    // resnet18 fp32's top-1 and inference p50 appear on its README row, as in bench/results.md.
    const header = section
      .split('\n')
      .find((line) => line.startsWith('| architecture'))!
      .slice(2, -2)
      .split(' | ');
    const resnet18 = rows[0]!.slice(2, -2).split(' | ');
    const row = readme.split('\n').find((line) => line.startsWith(`| ${resnet18[0]} | ${resnet18[1]} |`))!;
    expect(row).toContain(`| ${resnet18[header.indexOf('top-1 (card, %)')]} |`);
    expect(row).toContain(`| ${resnet18[header.indexOf('inference p50 (ms)')]} |`);
    expect(readme).toMatch(/^Measured by `npm run bench` on AMD EPYC/);
  });
});
