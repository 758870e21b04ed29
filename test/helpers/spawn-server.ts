import { type ChildProcess, spawn } from 'node:child_process';
import { copyFileSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { buildSync } from 'esbuild';
import { waitFor } from './wait.js';

const repo = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
let bundled: string | undefined;

/** Node 20 cannot run TypeScript, so the child script is bundled once (npm packages stay external). */
function childScript(): string {
  if (bundled !== undefined) return bundled;
  const outDir = join(repo, 'test', '.tmp');
  mkdirSync(outDir, { recursive: true });
  const outfile = join(outDir, 'server-process.mjs');
  buildSync({
    entryPoints: [join(repo, 'test', 'helpers', 'server-process.ts')],
    outfile,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    packages: 'external',
    logLevel: 'warning',
  });
  // The resample kernel is loaded from beside the module that loads it, here the bundle.
  mkdirSync(join(outDir, 'wasm'), { recursive: true });
  copyFileSync(join(repo, 'src', 'image', 'wasm', 'resample.wasm'), join(outDir, 'wasm', 'resample.wasm'));
  bundled = outfile;
  return outfile;
}

export interface ChildServer {
  url: string;
  process: ChildProcess;
  /** Parsed JSON log lines so far (pino). */
  lines: Record<string, unknown>[];
  /** Resolves with the exit code. */
  exited: Promise<number | null>;
  /** Resolves when a log line satisfies `predicate`. */
  waitForLine(predicate: (line: Record<string, unknown>) => boolean, timeoutMs?: number): Promise<Record<string, unknown>>;
  /** SIGKILL if still running (test cleanup). */
  kill(): void;
}

export interface SpawnOptions {
  /** The child's file-descriptor limit (`ulimit -n`, through sh), to exhaust it on purpose. Default: this process's. */
  openFiles?: number;
}

/** Spawns test/helpers/server-process.ts with `env` and waits until it listens. */
export async function spawnServer(env: Record<string, string> = {}, options: SpawnOptions = {}): Promise<ChildServer> {
  const [command, args] =
    options.openFiles === undefined
      ? [process.execPath, [childScript()]]
      : ['sh', ['-c', `ulimit -n ${options.openFiles} && exec "$0" "$@"`, process.execPath, childScript()]];
  const child = spawn(command, args, {
    cwd: repo,
    env: { ...process.env, RS_WEB_ROOT: join(repo, 'dist', 'web'), ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const lines: Record<string, unknown>[] = [];
  const waiters: { predicate: (line: Record<string, unknown>) => boolean; resolve: (line: Record<string, unknown>) => void }[] = [];
  createInterface({ input: child.stdout! }).on('line', (text) => {
    let line: Record<string, unknown>;
    try {
      line = JSON.parse(text) as Record<string, unknown>;
    } catch {
      line = { text };
    }
    lines.push(line);
    for (const waiter of [...waiters]) {
      if (waiter.predicate(line)) {
        waiters.splice(waiters.indexOf(waiter), 1);
        waiter.resolve(line);
      }
    }
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const waitForLine = (predicate: (line: Record<string, unknown>) => boolean, timeoutMs = 60_000): Promise<Record<string, unknown>> => {
    const seen = lines.find(predicate);
    if (seen !== undefined) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`no matching log line within ${timeoutMs} ms; saw ${JSON.stringify(lines.slice(-5))}`)),
        timeoutMs,
      );
      waiters.push({
        predicate,
        resolve: (line) => {
          clearTimeout(timer);
          resolve(line);
        },
      });
      void exited.then((code) => reject(new Error(`server exited with ${code} before the expected log line`)));
    });
  };
  const listening = await waitForLine((line) => typeof line.listening === 'string');
  return {
    url: listening.listening as string,
    process: child,
    lines,
    exited,
    waitForLine,
    kill: () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    },
  };
}

/** Polls /readyz until 200 (the model is loaded and warmed up). */
export async function waitUntilReady(url: string, timeoutMs = 60_000): Promise<void> {
  const ready = async (): Promise<boolean> => (await fetch(`${url}/readyz`).catch(() => undefined))?.status === 200;
  await waitFor(`${url} to be ready`, ready, timeoutMs, 100);
}
