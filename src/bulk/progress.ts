const BAR_WIDTH = 24;
/** Redraws at most four times a second. */
const REDRAW_INTERVAL_MS = 250;

function duration(seconds: number): string {
  if (!Number.isFinite(seconds)) return '?';
  const s = Math.round(seconds);
  return s >= 3600
    ? `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`
    : `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
}

/** One line, e.g. `1200/5000  24% [######------------------] 31.4 img/s ETA 2m01s`. */
export function formatBulkProgress(done: number, total: number, elapsedSeconds: number): string {
  const fraction = total === 0 ? 1 : done / total;
  const filled = Math.round(fraction * BAR_WIDTH);
  const rate = elapsedSeconds > 0 ? done / elapsedSeconds : 0;
  const eta = rate > 0 ? (total - done) / rate : Number.POSITIVE_INFINITY;
  return `${done}/${total} ${`${Math.floor(fraction * 100)}%`.padStart(4)} [${'#'.repeat(filled)}${'-'.repeat(BAR_WIDTH - filled)}] ${rate.toFixed(1)} img/s ETA ${duration(eta)}`;
}

/**
 * A progress callback drawing one self-overwriting line on `stream`, or `undefined` when it is not a terminal
 * (logs and pipes get no carriage returns). Call it after every file, and with `final` once at the end.
 */
export function bulkProgressBar(
  total: number,
  stream: NodeJS.WriteStream = process.stderr,
): ((done: number, final?: boolean) => void) | undefined {
  if (stream.isTTY !== true) return undefined;
  const started = performance.now();
  let lastDraw = 0;
  return (done, final = false) => {
    const now = performance.now();
    if (!final && now - lastDraw < REDRAW_INTERVAL_MS) return;
    lastDraw = now;
    stream.write(`\r${formatBulkProgress(done, total, (now - started) / 1000)}\x1b[K${final ? '\n' : ''}`);
  };
}
