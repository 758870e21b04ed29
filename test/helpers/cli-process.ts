import { type ChildProcess, spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

/** The built command line, as `npm start` and the image run it. */
export const CLI = fileURLToPath(new URL('../../dist/cli.js', import.meta.url));

export interface CliProcess {
  child: ChildProcess;
  /** The address from the server's "Server listening at" log line (the first one, 127.0.0.1). */
  url: Promise<string>;
  /** Resolves with the exit code (null when killed by a signal) once its output is complete (stdio closed). */
  exited: Promise<number | null>;
  /** What it wrote to stderr so far. */
  stderr(): string;
  /** What it wrote to stdout so far. */
  stdout(): string;
}

/** `node ARGV` with exactly `env`: for tests that run `resnet-serve serve` as a deployment would. */
export function startCli(argv: string[], env: Record<string, string>): CliProcess {
  const child = spawn(process.execPath, argv, { env, stdio: ['ignore', 'pipe', 'pipe'] });
  // 'close', not 'exit': by then stdout and stderr have been read to the end, and a caller awaiting `exited` cannot
  // miss an event that fired while it was still on its way.
  const exited = new Promise<number | null>((resolve) => child.once('close', (code) => resolve(code)));
  let stderr = '';
  let stdout = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  child.stdout?.on('data', (chunk: Buffer) => {
    stdout += chunk.toString();
  });
  const url = new Promise<string>((resolve, reject) => {
    createInterface({ input: child.stdout! }).on('line', (line) => {
      const match = /Server listening at (http:\/\/127\.0\.0\.1:\d+)/.exec(line);
      if (match !== null) resolve(match[1]!);
    });
    void exited.then((code) => reject(new Error(`${argv.join(' ')} exited with ${code} before listening:\n${stderr}`)));
  });
  url.catch(() => undefined);
  return { child, url, exited, stderr: () => stderr, stdout: () => stdout };
}
