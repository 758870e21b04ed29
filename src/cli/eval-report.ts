import type { Rate } from '../eval/accuracy.js';
import type { EvalReport } from '../eval/evaluate.js';
import { maxColumns, padEndColumns, padStartColumns } from './display-width.js';
import { counted } from './tty.js';

/** Lines of a list printed in text; `--json` has them all. */
const MAX_LISTED = 20;

const percent = (fraction: number): string => `${(fraction * 100).toFixed(2)}%`;
const withInterval = (r: Rate): string => `${percent(r.rate)} [${percent(r.ci95[0])}, ${percent(r.ci95[1])}]`;

/**
 * The human report of `resnet-serve eval`: accuracy per model with 95% intervals, the most confused pairs, the
 * comparison, unreadable files and disagreements (the long lists cut at 20 lines).
 * @param name - class index → display name.
 */
export function formatEvalReport(report: EvalReport, name: (index: number) => string): string {
  const lines: string[] = [];
  const seconds = report.elapsedMs / 1000;
  lines.push(
    `${counted(report.evaluated, 'image')} evaluated (${report.layout}) in ${seconds.toFixed(1)} s, ${(report.evaluated / Math.max(seconds, 1e-9)).toFixed(1)} images/s` +
      (report.unreadable.length > 0 ? `; ${report.unreadable.length} of ${counted(report.files, 'file')} unreadable` : ''),
    '',
  );
  // Columns by display width: a model's name is its file's, which may be in Chinese.
  const width = maxColumns(['model', ...report.models.map((m) => m.name)]);
  lines.push(`${padEndColumns('model', width)}  ${padEndColumns('top-1 [95% CI]', 28)}  top-5 [95% CI]`);
  for (const m of report.models)
    lines.push(`${padEndColumns(m.name, width)}  ${padEndColumns(withInterval(m.accuracy.top1), 28)}  ${withInterval(m.accuracy.top5)}`);
  const { comparison } = report;
  if (comparison !== undefined) {
    const [a, b] = report.models.map((m) => m.name);
    lines.push(
      '',
      `top-1 agreement ${a} / ${b}: ${withInterval(comparison.agreement)}, ${counted(comparison.disagreements.length, 'image differs', 'images differ')}`,
    );
  }
  for (const m of report.models) {
    if (m.accuracy.confusions.length === 0) continue;
    lines.push('', `Most confused by ${m.name} (true → answered, top-1):`);
    for (const c of m.accuracy.confusions)
      lines.push(`  ${padStartColumns(String(c.count), 5)} × ${name(c.label)} (${c.label}) → ${name(c.predicted)} (${c.predicted})`);
  }
  if (report.unreadable.length > 0) {
    lines.push('', 'Unreadable files:');
    lines.push(...listed(report.unreadable, (u) => `  ${u.path}  ${u.code}  ${u.message}`));
  }
  if (comparison !== undefined && comparison.disagreements.length > 0) {
    const [a, b] = report.models.map((m) => m.name);
    lines.push('', `Where ${a} and ${b} disagree (true: ${a} / ${b}):`);
    lines.push(...listed(comparison.disagreements, (d) => `  ${d.path}  ${name(d.label)}: ${d.predicted.map(name).join(' / ')}`));
  }
  return `${lines.join('\n')}\n`;
}

function listed<T>(items: readonly T[], line: (item: T) => string): string[] {
  const out = items.slice(0, MAX_LISTED).map(line);
  if (items.length > MAX_LISTED) out.push(`  … and ${items.length - MAX_LISTED} more (--json lists them all)`);
  return out;
}
