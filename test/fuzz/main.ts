/**
 * `npm run fuzz -- [--seconds N] [--target a,b] [--seed S] [--no-coverage]`: fuzzes each target for N seconds
 * (default 30) in a child process of its own, then prints executions, corpus size and findings per target.
 *
 * NOT coverage-guided by libFuzzer: @jazzer.js/core 4.0.0 installs from npm alone, but its prebuilt
 * fuzzer-linux-x64.node needs glibc 2.38 (`__isoc23_strtol`) and Debian 12 has 2.36, and jazzer 2.x
 * downloads its binary from GitHub at install time. So this is a property-based loop with a seeded
 * mutator (mutate.ts), guided by V8's own block coverage (inspector Profiler.takePreciseCoverage): an input
 * that reaches a block of our sources or busboy's never reached before joins the corpus.
 *
 * A finding is an input whose target threw something other than a ResnetServeError, that ran longer than
 * the hang limit, or that crashed or exhausted the child's memory. Findings go to test/fuzz/.work/findings/;
 * once fixed, keep them in test/fixtures/fuzz/<target>/ where CI replays them.
 */
import { fork } from 'node:child_process';
import { createHash } from 'node:crypto';
import { closeSync, existsSync, ftruncateSync, mkdirSync, openSync, readdirSync, readFileSync, writeFileSync, writeSync } from 'node:fs';
import { Session } from 'node:inspector';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { inspect } from 'node:util';
import { isResnetServeError } from '../../src/errors.js';
import { Mutator } from './mutate.js';
import { type FuzzTarget, TARGETS } from './targets.js';

const WORK = join(process.cwd(), 'test', 'fuzz', '.work');
/** An input that runs longer than this is a hang (the slowest honest one, a 1 MP decode, takes ~20 ms). */
const HANG_MS = 10_000;
/** One execution's growth of RSS beyond this is unbounded allocation for inputs of at most 256 KB. */
const MAX_RSS_BYTES = 1536 * 1024 * 1024;

interface Progress {
  execs: number;
  corpus: number;
  findings: string[];
}

function parseArgs(argv: string[]): { seconds: number; targets: FuzzTarget[]; seed: number; coverage: boolean } {
  const value = (flag: string): string | undefined => {
    const i = argv.indexOf(flag);
    return i < 0 ? undefined : argv[i + 1];
  };
  const seconds = Number(value('--seconds') ?? 30);
  const seed = Number(value('--seed') ?? Date.now() % 2 ** 31);
  const names = value('--target')?.split(',');
  const targets = names === undefined ? [...TARGETS] : TARGETS.filter((t) => names.includes(t.name));
  if (!(seconds > 0) || !Number.isSafeInteger(seed) || targets.length === 0) {
    throw new Error(`usage: npm run fuzz -- [--seconds N] [--target ${TARGETS.map((t) => t.name).join(',')}] [--seed S] [--no-coverage]`);
  }
  return { seconds, targets, seed, coverage: !argv.includes('--no-coverage') };
}

// ---- parent: one child per target, a watchdog for hangs and crashes ---------------------------------

async function parent(argv: string[]): Promise<void> {
  const { seconds, targets, seed, coverage } = parseArgs(argv);
  console.log(
    `fuzzing ${targets.map((t) => t.name).join(', ')} for ${seconds} s each, seed ${seed}${coverage ? ', V8 coverage-guided' : ''}`,
  );
  for (const target of targets) {
    const result = await fuzzInChild(target, seconds, seed, coverage);
    console.log(
      `${target.name.padEnd(14)} ${String(result.execs).padStart(9)} execs  ${String(result.corpus).padStart(5)} in corpus  ${result.findings.length} findings`,
    );
    for (const finding of result.findings) console.log(`    ${finding}`);
  }
}

function fuzzInChild(target: FuzzTarget, seconds: number, seed: number, coverage: boolean): Promise<Progress> {
  const current = join(WORK, `${target.name}.current`);
  const total: Progress = { execs: 0, corpus: 0, findings: [] };
  const deadline = Date.now() + seconds * 1000;
  const runOnce = (attempt: number): Promise<void> =>
    new Promise((resolve) => {
      const left = Math.max(1, (deadline - Date.now()) / 1000);
      const child = fork(
        fileURLToPath(import.meta.url),
        ['--child', target.name, String(left), String(seed + attempt), coverage ? '1' : '0'],
        {
          execArgv: [...process.execArgv, '--max-old-space-size=1024'],
          stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
        },
      );
      let last: Progress = { execs: 0, corpus: 0, findings: [] };
      let lastChange = Date.now();
      let verdict: string | undefined;
      child.on('message', (message: Progress) => {
        if (message.execs !== last.execs) lastChange = Date.now();
        last = message;
      });
      const watchdog = setInterval(() => {
        if (Date.now() - lastChange > HANG_MS) {
          verdict = 'hang';
          child.kill('SIGKILL');
        }
      }, 500);
      child.on('exit', (code, signal) => {
        clearInterval(watchdog);
        total.execs += last.execs;
        total.corpus = Math.max(total.corpus, last.corpus);
        total.findings.push(...last.findings);
        const crashed = verdict ?? (code === 0 ? undefined : `crash (exit ${code ?? signal})`);
        if (crashed !== undefined && existsSync(current)) {
          total.findings.push(`${crashed}: ${saveFinding(target.name, readFileSync(current), crashed)}`);
        }
        // Go on fuzzing after a crash or hang, with another seed, while time is left.
        if (crashed !== undefined && Date.now() < deadline - 1000 && attempt < 5) resolve(runOnce(attempt + 1));
        else resolve();
      });
    });
  return runOnce(0).then(() => total);
}

function saveFinding(target: string, bytes: Uint8Array, why: string): string {
  const dir = join(WORK, 'findings', target);
  mkdirSync(dir, { recursive: true });
  const name = createHash('sha1').update(bytes).digest('hex').slice(0, 16);
  writeFileSync(join(dir, `${name}.bin`), bytes);
  writeFileSync(join(dir, `${name}.txt`), `${why}\n`);
  return join(dir, `${name}.bin`);
}

// ---- child: the loop -------------------------------------------------------------------------------

/**
 * Which blocks of our sources (and busboy's) have run. Taking V8's coverage costs ~0.5 ms, ten times a
 * pickle execution, so it is taken once per batch; only a batch that reached a new block is replayed one
 * input at a time to find which inputs to keep.
 */
class CoverageMap {
  readonly #session = new Session();
  readonly #seen = new Set<string>();
  readonly #scripts: RegExp;

  constructor(scripts: RegExp) {
    this.#scripts = scripts;
    this.#session.connect();
    this.#post('Profiler.enable');
    this.#post('Profiler.startPreciseCoverage', { callCount: true, detailed: true });
  }

  /** The blocks run since the last call that were never seen before (not yet marked as seen). */
  takeNew(): string[] {
    const { result } = this.#post('Profiler.takePreciseCoverage') as {
      result: { url: string; functions: { ranges: { startOffset: number; count: number }[] }[] }[];
    };
    const fresh: string[] = [];
    for (const script of result) {
      if (!this.#scripts.test(script.url)) continue;
      for (const fn of script.functions) {
        for (const range of fn.ranges) {
          const key = `${script.url}:${range.startOffset}`;
          if (range.count > 0 && !this.#seen.has(key)) fresh.push(key);
        }
      }
    }
    return fresh;
  }

  mark(keys: readonly string[]): void {
    for (const key of keys) this.#seen.add(key);
  }

  #post(method: string, params?: object): unknown {
    // An in-thread inspector session answers synchronously.
    let answer: unknown;
    this.#session.post(method, params, (error, result) => {
      if (error) throw error;
      answer = result;
    });
    return answer;
  }
}

const BATCH = 16;

async function child(name: string, seconds: number, seed: number, coverage: boolean): Promise<void> {
  const target = TARGETS.find((t) => t.name === name)!;
  const corpusDir = join(WORK, 'corpus', name);
  mkdirSync(corpusDir, { recursive: true });
  const corpus: Uint8Array[] = [
    ...target.seeds(),
    ...readdirSync(corpusDir).map((f) => new Uint8Array(readFileSync(join(corpusDir, f)))),
    ...regressionInputs(name),
  ].map((b) => b.subarray(0, target.maxLength));
  const mutator = new Mutator(
    seed,
    target.dictionary.map((t) => Buffer.from(t, 'latin1')),
    target.maxLength,
  );
  const run = await target.open();
  const map = coverage ? new CoverageMap(/\/src\/|busboy|@fastify\/multipart/) : undefined;
  const currentFd = openSync(join(WORK, `${name}.current`), 'w');
  const progress: Progress = { execs: 0, corpus: corpus.length, findings: [] };
  const signatures = new Set<string>();
  const report = setInterval(() => process.send?.(progress), 250);

  const execute = async (input: Uint8Array): Promise<void> => {
    writeSync(currentFd, input, 0, input.length, 0);
    ftruncateSync(currentFd, input.length);
    try {
      await run(input);
    } catch (error) {
      if (!isResnetServeError(error)) {
        const signature = signatureOf(error);
        if (!signatures.has(signature)) {
          signatures.add(signature);
          progress.findings.push(`${signature}: ${saveFinding(name, input, errorText(error))}`);
        }
      }
    }
    progress.execs += 1;
    if (process.memoryUsage.rss() > MAX_RSS_BYTES) {
      progress.findings.push(`memory: ${saveFinding(name, input, `RSS above ${MAX_RSS_BYTES} bytes after this input`)}`);
      process.send?.(progress);
      process.exit(3);
    }
  };

  for (const seedInput of corpus) await execute(seedInput);
  if (map !== undefined) map.mark(map.takeNew());
  const keep = (input: Uint8Array): void => {
    corpus.push(input);
    progress.corpus = corpus.length;
    writeFileSync(join(corpusDir, createHash('sha1').update(input).digest('hex').slice(0, 16)), input);
  };
  const deadline = Date.now() + seconds * 1000;
  while (Date.now() < deadline) {
    const batch = Array.from({ length: BATCH }, () =>
      mutator.mutate(corpus[mutator.below(corpus.length)]!, corpus[mutator.below(corpus.length)]!),
    );
    for (const input of batch) await execute(input);
    if (map !== undefined && map.takeNew().length > 0) {
      for (const input of batch) {
        await execute(input);
        const fresh = map.takeNew();
        if (fresh.length > 0) {
          map.mark(fresh);
          keep(input);
        }
      }
    }
    await new Promise((resolve) => setImmediate(resolve));
  }
  clearInterval(report);
  closeSync(currentFd);
  await target.close();
  process.send?.(progress, () => process.exit(0));
}

function regressionInputs(name: string): Uint8Array[] {
  const dir = join(process.cwd(), 'test', 'fixtures', 'fuzz', name);
  return existsSync(dir)
    ? readdirSync(dir)
        .filter((f) => f.endsWith('.bin'))
        .map((f) => new Uint8Array(readFileSync(join(dir, f))))
    : [];
}

function signatureOf(error: unknown): string {
  if (!(error instanceof Error)) return `non-Error ${typeof error}`;
  const frame = error.stack?.split('\n').find((line) => line.includes('/src/') || line.includes('.work/')) ?? '';
  return `${error.name}: ${error.message.slice(0, 80)} ${frame.trim().slice(0, 120)}`;
}

function errorText(error: unknown): string {
  // The stack for an Error, a readable form of anything else thrown.
  return `${inspect(error)}\n`;
}

const argv = process.argv.slice(2);
if (argv[0] === '--child') {
  await child(argv[1]!, Number(argv[2]), Number(argv[3]), argv[4] === '1');
} else {
  mkdirSync(WORK, { recursive: true });
  await parent(argv);
}
