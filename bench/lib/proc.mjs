// Child processes of the benchmark: spawned through here so every one of them is killed at the end,
// on success, on failure and on Ctrl-C; plus what /proc says about their memory and CPU time.
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';

const children = new Set();

/** Spawns a tracked child; its stderr is kept (last 8 KB) for error messages. */
export function spawnTracked(command, args, options = {}) {
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], ...options });
  children.add(child);
  child.stderrTail = '';
  child.stderr.on('data', (chunk) => {
    child.stderrTail = (child.stderrTail + chunk).slice(-8192);
  });
  child.exited = new Promise((resolve) => {
    child.once('exit', (code, signal) => {
      children.delete(child);
      resolve({ code, signal });
    });
    // A command that cannot start (ENOENT, EACCES) emits 'error' and no 'exit'.
    child.once('error', (error) => {
      children.delete(child);
      child.stderrTail += error.message;
      resolve({ code: -1, signal: null });
    });
  });
  return child;
}

/** SIGTERM, then SIGKILL after `graceMs` if the child is still there. */
export async function stop(child, graceMs = 3000) {
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
  await child.exited;
  clearTimeout(timer);
}

export async function stopAll() {
  await Promise.all([...children].map((child) => stop(child)));
}

// Last resort when the harness itself dies: no server is left listening behind it.
process.on('exit', () => {
  for (const child of children) child.kill('SIGKILL');
});
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.once(signal, () => {
    process.stderr.write(`\nbench: ${signal}, stopping child processes\n`);
    void stopAll().finally(() => process.exit(130));
  });
}

/**
 * Runs a command to completion and parses its stdout as JSON.
 * @throws Error with the command's stderr tail when it fails, times out or prints no JSON.
 */
export async function runJson(command, args, { timeoutMs = 300_000, env } = {}) {
  const child = spawnTracked(command, args, { env: env ?? process.env });
  let stdout = '';
  child.stdout.on('data', (chunk) => {
    stdout += chunk;
  });
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  const { code, signal } = await child.exited;
  clearTimeout(timer);
  if (code !== 0)
    throw new Error(
      `${command} ${args[0]} failed (${signal ?? `exit ${code}`}): ${child.stderrTail.trim().split('\n').slice(-3).join(' | ')}`,
    );
  try {
    return JSON.parse(stdout);
  } catch {
    throw new Error(`${command} ${args[0]} printed no JSON: ${stdout.slice(0, 200)}`);
  }
}

/** Runs a command to completion; resolves with its exit code and stderr tail. */
export async function runQuiet(command, args, { timeoutMs = 300_000, env } = {}) {
  const child = spawnTracked(command, args, { env: env ?? process.env });
  child.stdout.resume();
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  const { code } = await child.exited;
  clearTimeout(timer);
  return { code, stderr: child.stderrTail };
}

/** A TCP port free on 127.0.0.1 right now. */
export function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

/** Resident and peak-resident memory of a process, in MB (MiB), from /proc/<pid>/status. */
export function memoryOf(pid) {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (field) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? Number.NaN);
  return { rssMb: kb('VmRSS') / 1024, hwmMb: kb('VmHWM') / 1024 };
}

/** User + system CPU time a process has used so far, in ms (/proc/<pid>/stat fields 14 and 15, in 1/100 s). */
export function cpuMsOf(pid) {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // The command name (field 2) may hold spaces; fields are counted after its closing parenthesis.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

/** Samples VmRSS of `pid` every `intervalMs` until stopped. */
export class RssSampler {
  #timer;
  samples = [];

  constructor(pid, intervalMs = 50) {
    const t0 = performance.now();
    this.#timer = setInterval(() => {
      try {
        this.samples.push({ t: performance.now() - t0, rssMb: memoryOf(pid).rssMb });
      } catch {
        this.stop();
      }
    }, intervalMs);
    this.#timer.unref();
  }

  /** Highest VmRSS seen since `fromIndex`. */
  maxSince(fromIndex = 0) {
    const seen = this.samples.slice(fromIndex).map((s) => s.rssMb);
    return seen.length === 0 ? Number.NaN : Math.max(...seen);
  }

  stop() {
    clearInterval(this.#timer);
  }
}
