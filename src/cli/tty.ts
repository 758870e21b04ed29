import type { EvalProgress } from '../eval/evaluate.js';
import type { DownloadProgress } from '../weights/fetch.js';

/**
 * The command line's one progress bar, for downloads, bulk classification and eval: the stages report progress
 * through a callback, and this draws it as one self-overwriting line on a terminal's stderr (stdout is for
 * results), nothing in pipes and logs.
 */

const BAR_WIDTH = 24;
/** Redraws at most ten times a second: a 45 MB download arrives in thousands of chunks, a folder in thousands of files. */
const REDRAW_INTERVAL_MS = 100;
const MB = 1_000_000;

/** `' 42% [##########--------------]'`: the share done, padded, and the bar. */
function bar(fraction: number): string {
  const clamped = Math.min(1, Math.max(0, fraction));
  const filled = Math.round(clamped * BAR_WIDTH);
  return `${`${Math.floor(clamped * 100)}%`.padStart(4)} [${'#'.repeat(filled)}${'-'.repeat(BAR_WIDTH - filled)}]`;
}

/** A time left: `45s`, `2m07s`, `1h05m`; `?` when unknown. */
export function duration(seconds: number): string {
  if (!Number.isFinite(seconds)) return '?';
  const s = Math.round(seconds);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}

/** `count` and its noun, singular for one: `1 file`, `2 files`. */
export function counted(count: number, noun: string, plural = `${noun}s`): string {
  return `${count} ${count === 1 ? noun : plural}`;
}

/**
 * A line drawer for `stream`, or `undefined` when it is not a terminal. Each call redraws the line, at most every
 * {@link REDRAW_INTERVAL_MS}; a `final` call always draws and ends the line.
 */
function progressLine(stream: NodeJS.WriteStream): ((text: string, final: boolean) => void) | undefined {
  if (stream.isTTY !== true) return undefined;
  let lastDraw = 0;
  return (text, final) => {
    const now = performance.now();
    if (!final && now - lastDraw < REDRAW_INTERVAL_MS) return;
    lastDraw = now;
    stream.write(`\r${text}\x1b[K${final ? '\n' : ''}`);
  };
}

/** Images done of a total, their rate and the time left, after `elapsedSeconds`. */
function rateAndEta(done: number, total: number, elapsedSeconds: number): { rate: string; eta: string } {
  const perSecond = elapsedSeconds > 0 ? done / elapsedSeconds : 0;
  return { rate: `${perSecond.toFixed(1)} img/s`, eta: duration(perSecond > 0 ? (total - done) / perSecond : Number.POSITIVE_INFINITY) };
}

/** One download line, e.g. `resnet18-f37072fd.pth  42% [##########--------------] 19.6/46.8 MB 8.3 MB/s`. */
export function formatDownloadProgress(label: string, progress: DownloadProgress): string {
  const received = (progress.receivedBytes / MB).toFixed(1);
  const rate = `${(progress.bytesPerSecond / MB).toFixed(1)} MB/s`;
  const total = progress.totalBytes;
  if (total === undefined || total === 0) return `${label}  ${received} MB ${rate}`;
  return `${label} ${bar(progress.receivedBytes / total)} ${received}/${(total / MB).toFixed(1)} MB ${rate}`;
}

/** The bar of a weights download, labelled with the file name; `undefined` off a terminal. */
export function downloadProgressBar(
  label: string,
  stream: NodeJS.WriteStream = process.stderr,
): ((progress: DownloadProgress) => void) | undefined {
  const draw = progressLine(stream);
  return draw && ((progress) => draw(formatDownloadProgress(label, progress), progress.done));
}

/** One bulk-classify line, e.g. `1200/5000  24% [######------------------] 31.4 img/s ETA 2m01s`. */
export function formatBulkProgress(done: number, total: number, elapsedSeconds: number): string {
  const { rate, eta } = rateAndEta(done, total, elapsedSeconds);
  return `${done}/${total} ${bar(total === 0 ? 1 : done / total)} ${rate} ETA ${eta}`;
}

/** The bar of `classify --jsonl`: call it after every file, and with `final` once at the end. */
export function bulkProgressBar(
  total: number,
  stream: NodeJS.WriteStream = process.stderr,
): ((done: number, final?: boolean) => void) | undefined {
  const draw = progressLine(stream);
  const started = performance.now();
  return draw && ((done, final = false) => draw(formatBulkProgress(done, total, (performance.now() - started) / 1000), final));
}

/** One eval line, e.g. `eval  42% [##########--------------] 21000/50000  61.3 img/s  ETA 7m53s`. */
export function formatEvalProgress(progress: EvalProgress): string {
  const { rate, eta } = rateAndEta(progress.done, progress.total, progress.elapsedMs / 1000);
  return `eval ${bar(progress.total === 0 ? 1 : progress.done / progress.total)} ${progress.done}/${progress.total}  ${rate}  ETA ${eta}`;
}

/** The bar of `eval`; it ends the line when every image is done. */
export function evalProgressBar(stream: NodeJS.WriteStream = process.stderr): ((progress: EvalProgress) => void) | undefined {
  const draw = progressLine(stream);
  return draw && ((progress) => draw(formatEvalProgress(progress), progress.done === progress.total));
}
