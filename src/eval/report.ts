import type { Rate } from './accuracy.js';
import type { EvalProgress, EvalReport } from './evaluate.js';

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
    `${report.evaluated} images evaluated (${report.layout}) in ${seconds.toFixed(1)} s, ${(report.evaluated / Math.max(seconds, 1e-9)).toFixed(1)} images/s` +
      (report.unreadable.length > 0 ? `; ${report.unreadable.length} of ${report.files} files unreadable` : ''),
    '',
  );
  const width = Math.max(5, ...report.models.map((m) => m.name.length));
  lines.push(`${'model'.padEnd(width)}  ${'top-1 [95% CI]'.padEnd(28)}  top-5 [95% CI]`);
  for (const m of report.models)
    lines.push(`${m.name.padEnd(width)}  ${withInterval(m.accuracy.top1).padEnd(28)}  ${withInterval(m.accuracy.top5)}`);
  const { comparison } = report;
  if (comparison !== undefined) {
    const [a, b] = report.models.map((m) => m.name);
    lines.push('', `top-1 agreement ${a} / ${b}: ${withInterval(comparison.agreement)}, ${comparison.disagreements.length} images differ`);
  }
  for (const m of report.models) {
    if (m.accuracy.confusions.length === 0) continue;
    lines.push('', `Most confused by ${m.name} (true → answered, top-1):`);
    for (const c of m.accuracy.confusions)
      lines.push(`  ${String(c.count).padStart(5)} × ${name(c.label)} (${c.label}) → ${name(c.predicted)} (${c.predicted})`);
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

const BAR_WIDTH = 24;

/** One progress line, e.g. `eval  42% [##########--------------] 21000/50000  61.3 img/s  ETA 7m53s`. */
export function formatEvalProgress(progress: EvalProgress): string {
  const fraction = progress.total === 0 ? 1 : progress.done / progress.total;
  const filled = Math.round(fraction * BAR_WIDTH);
  const perSecond = progress.done / Math.max(progress.elapsedMs / 1000, 1e-9);
  const eta = perSecond > 0 ? (progress.total - progress.done) / perSecond : Number.POSITIVE_INFINITY;
  return `eval ${`${Math.floor(fraction * 100)}%`.padStart(4)} [${'#'.repeat(filled)}${'-'.repeat(BAR_WIDTH - filled)}] ${progress.done}/${progress.total}  ${perSecond.toFixed(1)} img/s  ETA ${duration(eta)}`;
}

function duration(seconds: number): string {
  if (!Number.isFinite(seconds)) return '?';
  const s = Math.round(seconds);
  return s >= 60 ? `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s` : `${s}s`;
}
