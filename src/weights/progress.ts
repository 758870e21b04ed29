/** Download progress as `downloadWeights` reports it after every chunk and once more at the end. */
export interface DownloadProgress {
  readonly receivedBytes: number;
  /** From Content-Length; undefined when the server does not send one. */
  readonly totalBytes: number | undefined;
  /** Bytes per second since the response started. */
  readonly bytesPerSecond: number;
  /** True on the final report, once the whole body is on disk. */
  readonly done: boolean;
}

const MB = 1_000_000;
const BAR_WIDTH = 24;
/** Redraws at most ten times a second: a 45 MB file arrives in thousands of chunks. */
const REDRAW_INTERVAL_MS = 100;

/** One line of the progress bar, e.g. `resnet18-f37072fd.pth  42% [##########--------------] 19.6/46.8 MB 8.3 MB/s`. */
export function formatProgress(label: string, progress: DownloadProgress): string {
  const received = (progress.receivedBytes / MB).toFixed(1);
  const rate = `${(progress.bytesPerSecond / MB).toFixed(1)} MB/s`;
  const total = progress.totalBytes;
  if (total === undefined || total === 0) return `${label}  ${received} MB ${rate}`;
  const fraction = Math.min(1, progress.receivedBytes / total);
  const filled = Math.round(fraction * BAR_WIDTH);
  const bar = `[${'#'.repeat(filled)}${'-'.repeat(BAR_WIDTH - filled)}]`;
  return `${label} ${`${Math.floor(fraction * 100)}%`.padStart(4)} ${bar} ${received}/${(total / MB).toFixed(1)} MB ${rate}`;
}

/**
 * A progress callback drawing one self-overwriting line on `stream` — or `undefined` when the stream is
 * not a terminal, so logs and pipes stay free of carriage returns.
 *
 * @param label shown first on the line, usually the file name.
 * @param stream default `process.stderr` (stdout is reserved for results).
 */
export function progressBar(
  label: string,
  stream: NodeJS.WriteStream = process.stderr,
): ((progress: DownloadProgress) => void) | undefined {
  if (stream.isTTY !== true) return undefined;
  let lastDraw = 0;
  return (progress) => {
    const now = Date.now();
    if (!progress.done && now - lastDraw < REDRAW_INTERVAL_MS) return;
    lastDraw = now;
    stream.write(`\r${formatProgress(label, progress)}\x1b[K${progress.done ? '\n' : ''}`);
  };
}
