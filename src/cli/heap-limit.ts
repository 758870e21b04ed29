import { spawn } from 'node:child_process';
import { signalExitCode } from './interrupt.js';

/** Set in the restarted process, so that it never restarts again whatever it finds. */
const RESTARTED = 'RESNET_SERVE_HEAP_LIMIT_SET';

/** The `--max-old-space-size` Node was started with (its flags, then NODE_OPTIONS; the last one counts), in MiB. */
export function startedHeapLimitMb(execArgv: readonly string[], nodeOptions: string | undefined): number | undefined {
  const flags = [...(nodeOptions ?? '').split(/\s+/), ...execArgv].join(' ');
  const all = [...flags.matchAll(/--max[-_]old[-_]space[-_]size[= ](\d+)/g)];
  const last = all.at(-1)?.[1];
  return last === undefined ? undefined : Number(last);
}

/**
 * V8 fixes its heap limit at start-up, so a `--heap-limit` Node was not started with needs a new process: on
 * Node ≥ 22.15 the process replaces itself (`process.execve`: same PID, PID 1 in a container stays PID 1);
 * on Node 20 a child runs the command with the flag, this process forwards SIGTERM and SIGINT to it and exits
 * with its code. The image's ENTRYPOINT starts Node with its limit, so the image never restarts.
 *
 * @returns `undefined` when this process already runs with the limit (or `heapLimitMb` is 0); else the restarted
 *   command's exit code (Node 20; with execve this never returns).
 */
export async function restartWithHeapLimit(heapLimitMb: number): Promise<number | undefined> {
  if (heapLimitMb === 0 || process.env[RESTARTED] !== undefined) return undefined;
  if (startedHeapLimitMb(process.execArgv, process.env.NODE_OPTIONS) === heapLimitMb) return undefined;
  const args = [...process.execArgv, `--max-old-space-size=${heapLimitMb}`, ...process.argv.slice(1)];
  const env = { ...process.env, [RESTARTED]: String(heapLimitMb) };
  const execve = (process as { execve?: (file: string, args: string[], env: NodeJS.ProcessEnv) => never }).execve;
  if (execve !== undefined) execve(process.execPath, [process.execPath, ...args], env);
  const child = spawn(process.execPath, args, { env, stdio: 'inherit' });
  const forward = (signal: NodeJS.Signals): void => {
    child.kill(signal);
  };
  process.on('SIGTERM', forward).on('SIGINT', forward);
  return new Promise((resolve) => {
    child.once('exit', (code, signal) => {
      process.off('SIGTERM', forward).off('SIGINT', forward);
      resolve(code ?? (signal === null ? 128 : signalExitCode(signal)));
    });
  });
}
