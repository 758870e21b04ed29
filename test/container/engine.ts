/**
 * The Docker engine for the container tests: used if one answers, otherwise started (`dockerd --iptables=false`,
 * the way it runs on a VM without its own firewall rules) and stopped again at the end. Whatever a test creates
 * (containers, volumes, images) is recorded here and removed by `removeOwned()`, so a run leaves the engine as it
 * found it.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { createWriteStream, mkdirSync } from 'node:fs';
import { join } from 'node:path';

export interface DockerResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs the docker CLI; never throws (the caller asserts on `code`). */
export function docker(args: string[], options: { timeoutMs?: number } = {}): Promise<DockerResult> {
  return new Promise((resolve) => {
    execFile('docker', args, { timeout: options.timeoutMs ?? 120_000, maxBuffer: 64 * 1024 * 1024 }, (error, stdout, stderr) => {
      const code = error === null ? 0 : typeof error.code === 'number' ? error.code : 1;
      resolve({ code, stdout: stdout.trim(), stderr: stderr.trim() });
    });
  });
}

/** Like `docker()`, but a non-zero exit is an error that carries the command's stderr. */
export async function dockerOk(args: string[], options: { timeoutMs?: number } = {}): Promise<string> {
  const result = await docker(args, options);
  if (result.code !== 0) throw new Error(`docker ${args.join(' ')} exited ${result.code}: ${result.stderr.slice(-2000)}`);
  return result.stdout;
}

export interface Engine {
  /** True when this run started dockerd (and so stops it). */
  started: boolean;
  /** Records something to remove at cleanup. */
  own(kind: 'container' | 'volume' | 'image', name: string): void;
  /** Removes what was recorded: containers, then volumes, then images (ids or tags), each newest first. */
  removeOwned(): Promise<void>;
  /** Stops dockerd if this run started it. */
  stop(): Promise<void>;
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

async function answers(): Promise<boolean> {
  return (await docker(['info', '--format', '{{.ServerVersion}}'], { timeoutMs: 10_000 })).code === 0;
}

/**
 * An engine to run the tests on, or the reason there is none. Starting one needs root and `dockerd` on the
 * PATH (Debian: `apt-get install docker.io`); its log goes to `logDir/dockerd.log`.
 */
export async function openEngine(logDir: string): Promise<Engine | { unavailable: string }> {
  if ((await docker(['--version'], { timeoutMs: 10_000 })).code !== 0) return { unavailable: 'the docker CLI is not installed' };
  let daemon: ChildProcess | undefined;
  if (!(await answers())) {
    if (process.getuid?.() !== 0) return { unavailable: 'no Docker engine answers and starting one needs root' };
    mkdirSync(logDir, { recursive: true });
    const log = createWriteStream(join(logDir, 'dockerd.log'));
    daemon = spawn('dockerd', ['--iptables=false'], { stdio: ['ignore', 'pipe', 'pipe'] });
    daemon.stdout?.pipe(log);
    daemon.stderr?.pipe(log);
    const failed = new Promise<string>((resolve) => {
      daemon?.once('error', (error) => resolve(error.message));
      daemon?.once('exit', (code) => resolve(`dockerd exited with ${code} (see ${join(logDir, 'dockerd.log')})`));
    });
    const deadline = Date.now() + 60_000;
    let why: string | undefined;
    while (why === undefined && !(await answers())) {
      if (Date.now() > deadline) why = 'dockerd did not answer within 60 s';
      else why = await Promise.race([failed, sleep(500).then(() => undefined)]);
    }
    if (why !== undefined) {
      daemon.kill('SIGTERM');
      return { unavailable: why };
    }
  }

  const owned: { kind: 'container' | 'volume' | 'image'; name: string }[] = [];
  return {
    started: daemon !== undefined,
    own(kind, name) {
      owned.push({ kind, name });
    },
    async removeOwned() {
      for (const kind of ['container', 'volume', 'image'] as const) {
        const names = owned
          .filter((o) => o.kind === kind)
          .map((o) => o.name)
          .reverse();
        if (names.length === 0) continue;
        const command = kind === 'container' ? ['rm', '-f', '-v'] : kind === 'volume' ? ['volume', 'rm', '-f'] : ['rmi', '-f'];
        await docker([...command, ...names]);
      }
      owned.length = 0;
    },
    async stop() {
      if (daemon !== undefined && daemon.exitCode === null) {
        const exited = new Promise((resolve) => daemon?.once('exit', resolve));
        daemon.kill('SIGTERM');
        await Promise.race([exited, sleep(30_000)]);
        if (daemon.exitCode === null) daemon.kill('SIGKILL');
      }
    },
  };
}

/** Every image id the engine holds, intermediate build stages included. */
export async function imageIds(): Promise<Set<string>> {
  return new Set((await dockerOk(['images', '--all', '--quiet', '--no-trunc'])).split('\n').filter((id) => id !== ''));
}

/** The image tags (`repository:tag`) the engine holds that contain `text`. */
export async function tagsContaining(text: string): Promise<string[]> {
  return (await dockerOk(['images', '--format', '{{.Repository}}:{{.Tag}}'])).split('\n').filter((tag) => tag.includes(text));
}
