import type { FileResult } from '../bulk/run.js';
import type { Lang } from '../labels/types.js';
import { maxColumns, padEndColumns, padStartColumns } from './display-width.js';

/**
 * `classify`'s table: each file, then its classes ranked, names in `lang` padded to one column by display width
 * (a Chinese name is two columns a character), probability in percent, class index.
 *
 * @example
 * ```
 * cat.jpg
 *   1. tabby          71.0%  (281)
 *   2. tiger cat      19.0%  (282)
 *   3. Egyptian cat    5.0%  (285)
 * ```
 */
export function formatTable(results: readonly FileResult[], lang: Lang): string {
  const lines: string[] = [];
  for (const result of results) {
    lines.push(result.file);
    if ('error' in result) {
      lines.push(`  error: ${result.error}`);
      continue;
    }
    const names = result.predictions.map((p) => (lang === 'zh' ? p.label_zh : p.label));
    const width = maxColumns(names);
    result.predictions.forEach((p, i) => {
      const percent = padStartColumns((p.probability * 100).toFixed(1), 5);
      lines.push(`  ${i + 1}. ${padEndColumns(names[i] ?? '', width)}  ${percent}%  (${p.index})`);
    });
    if (result.overlay !== undefined) lines.push(`  where it looked (class 1): ${result.overlay}`);
  }
  return `${lines.join('\n')}\n`;
}
