import { type Logger, pino } from 'pino';

/** The server's log lines: pino's JSON on stdout at info level, the options Fastify's own logger is made with. */
export const LOG_OPTIONS = Object.freeze({ level: 'info' });

/**
 * A logger for what `serve` says before the server exists (weights fetched, converted, where the cache is), so
 * those lines are JSON like every line after them and a log collector keeps them.
 */
export function startupLogger(): Logger {
  return pino({ ...LOG_OPTIONS });
}
