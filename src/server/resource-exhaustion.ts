import { readdirSync, readFileSync } from 'node:fs';

/**
 * What libuv reports when the process is out of file descriptors (EMFILE: this process's `ulimit -n`; ENFILE:
 * the system's) or memory. They pass when connections close or memory is freed, so whatever hit them skips its
 * turn and tries again; every other error is a bug and goes on to the caller (the last-resort handler, at worst).
 */
const EXHAUSTION_CODES: ReadonlySet<string> = new Set(['EMFILE', 'ENFILE', 'ENOMEM']);

/** The errno of a resource exhaustion (`EMFILE`…), or `undefined` for any other error. */
export function exhaustionCode(error: unknown): string | undefined {
  const code = typeof error === 'object' && error !== null ? (error as NodeJS.ErrnoException).code : undefined;
  return code !== undefined && EXHAUSTION_CODES.has(code) ? code : undefined;
}

/** Told of each exhaustion survived: which sampler, timer or socket hit it, and the error. */
export type ExhaustionReport = (source: string, errno: string, error: NodeJS.ErrnoException) => void;

/**
 * Runs one sample (a timer's tick, a metric's collection) so that running out of descriptors or memory skips it:
 * reported, and `undefined` returned. Other errors are thrown on.
 */
export function skipIfExhausted<T>(source: string, report: ExhaustionReport, sample: () => T): T | undefined {
  try {
    return sample();
  } catch (error) {
    const errno = exhaustionCode(error);
    if (errno === undefined) throw error;
    report(source, errno, error as NodeJS.ErrnoException);
    return undefined;
  }
}

/**
 * This process's file-descriptor limit (RLIMIT_NOFILE, the soft one `ulimit -n` shows) and how many are open now,
 * from /proc/self (Linux); `undefined` elsewhere or when /proc cannot be read.
 */
export function openFiles(): { limit: number; open: number } | undefined {
  try {
    const limits = readFileSync('/proc/self/limits', 'utf8');
    const soft = /^Max open files\s+(\d+|unlimited)\s/m.exec(limits)?.[1];
    if (soft === undefined) return undefined;
    return { limit: soft === 'unlimited' ? Number.POSITIVE_INFINITY : Number(soft), open: readdirSync('/proc/self/fd').length };
  } catch {
    return undefined;
  }
}
