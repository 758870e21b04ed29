import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { REFERENCE_PYTHON, ROOT } from './reference-python.js';

/** One architecture written by test/fixtures/make_arch_fixtures.py (its JSON line). */
export interface ArchFixture {
  readonly name: string;
  /** State_dict keys and shapes in TorchVision's order (num_batches_tracked included). */
  readonly keys: readonly (readonly [string, readonly number[]])[];
  /** Absent for `ARCH:meta` entries, which write no file. */
  readonly stateDict?: string;
  readonly reference?: string;
  readonly size?: number;
  readonly parameters?: number;
  readonly photos?: readonly string[];
  readonly seconds?: number;
  readonly cpuSeconds?: number;
}

const SCRIPT = 'test/fixtures/make_arch_fixtures.py';

/**
 * Runs make_arch_fixtures.py `weights --paced` over `specs` (`name` or `name:size` or `name:meta`) into `dir`, one
 * architecture at a time: asking for the i-th lets the script write it, and `release(i)` (after the state_dict has
 * been read and deleted) lets it write the next while the test runs this one, so at most two are on disk.
 * The caller owns the process: `close()` ends it.
 */
export class ArchFixtureStream {
  readonly #specs: readonly string[];
  readonly #dir: string;
  readonly #child: ChildProcessWithoutNullStreams;
  readonly #done = new Map<string, ArchFixture>();
  readonly #waiting = new Map<string, (fixture: ArchFixture) => void>();
  #failure: Error | undefined;
  #onFailure: ((error: Error) => void)[] = [];
  #asked = 0;
  #stderr = '';

  constructor(dir: string, specs: readonly string[], options: { photos?: boolean } = {}) {
    if (REFERENCE_PYTHON === undefined) throw new Error('No reference Python: see test/helpers/reference-python.ts');
    this.#specs = specs;
    this.#dir = dir;
    const args = [SCRIPT, 'weights', '--paced', '--out', dir, ...(options.photos === true ? ['--photos'] : []), ...specs];
    this.#child = spawn(REFERENCE_PYTHON, args, { cwd: ROOT, stdio: ['pipe', 'pipe', 'pipe'] });
    this.#child.stderr.on('data', (chunk: Buffer) => {
      this.#stderr = (this.#stderr + chunk.toString('utf8')).slice(-20_000);
    });
    createInterface({ input: this.#child.stdout }).on('line', (line) => {
      for (const [name, entry] of Object.entries(JSON.parse(line) as Record<string, Omit<ArchFixture, 'name'>>)) {
        const fixture = { ...entry, name };
        this.#done.set(name, fixture);
        this.#waiting.get(name)?.(fixture);
      }
    });
    this.#child.on('error', (error) => this.#fail(error));
    this.#child.on('exit', (code, signal) => {
      if (code !== 0) this.#fail(new Error(`${SCRIPT} exited with ${code ?? signal}:\n${this.#stderr}`));
      else this.#fail(new Error(`${SCRIPT} ended before writing every architecture`));
    });
  }

  /** The fixture of `name`, once written; its files are in {@link path}. */
  get(name: string): Promise<ArchFixture> {
    this.#askUpTo(this.#specs.findIndex((spec) => spec === name || spec.startsWith(`${name}:`)));
    const done = this.#done.get(name);
    if (done !== undefined) return Promise.resolve(done);
    if (this.#failure !== undefined) return Promise.reject(this.#failure);
    return new Promise((resolve, reject) => {
      this.#waiting.set(name, resolve);
      this.#onFailure.push(reject);
    });
  }

  /** Lets the script write the architecture after `name`. */
  release(name: string): void {
    this.#askUpTo(this.#specs.findIndex((spec) => spec === name || spec.startsWith(`${name}:`)) + 1);
  }

  path(file: string): string {
    return join(this.#dir, file);
  }

  close(): void {
    this.#child.stdin.end();
    if (this.#child.exitCode === null) this.#child.kill();
  }

  /** The script reads one line before each architecture after the first. */
  #askUpTo(index: number): void {
    while (this.#asked < index && this.#child.stdin.writable) {
      this.#child.stdin.write('\n');
      this.#asked++;
    }
  }

  #fail(error: Error): void {
    if (this.#done.size === this.#specs.length) return;
    this.#failure ??= error;
    for (const reject of this.#onFailure) reject(this.#failure);
    this.#onFailure = [];
  }
}
