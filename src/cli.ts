#!/usr/bin/env -S MALLOC_ARENA_MAX=2 MALLOC_MMAP_THRESHOLD_=65536 node --max-semi-space-size=2
// The flag caps V8's young generation at 2 MB per semi-space (default up to 16): a server whose requests
// allocate little JS keeps 8-12 MB less, for 1-3% fewer images/s at 16 clients (measured, int8). V8 reads
// it only at start-up, hence here, in the line that starts the command. glibc reads its settings at start-up
// too: MALLOC_ARENA_MAX=2, or each decoding thread gets an arena that keeps its freed buffers (25-40 MB more
// peak RSS in the soak benchmark); MALLOC_MMAP_THRESHOLD_=65536, so that socket reads, upload buffers and
// decoded pixels (all ≥ 64 KiB) go back to the system when freed instead of staying in the heap: after 30
// aborted 9.5 MB uploads RSS came back to +29 MB of idle in 2 s, against +219 MB held with glibc's defaults
// (test/integration/server-memory.test.ts).
import { readFile } from 'node:fs/promises';
import { inspect, type ParseArgsConfig, parseArgs } from 'node:util';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { type Command, resolveSettings, SETTINGS, type Settings } from './cli/settings.js';
import { COMMANDS, checkFlags, checkOperands, commandUsage, formatSettings, USAGE } from './cli/usage.js';
import { isResnetServeError, messageOf } from './errors.js';

/** The CLI's flags: one per setting, plus the commands' own switches. */
const OPTIONS = {
  ...Object.fromEntries(
    Object.values(SETTINGS).map((entry) => [entry.flag.slice(2), { type: entry.kind === 'boolean' ? 'boolean' : 'string' }]),
  ),
  'print-config': { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
  version: { type: 'boolean' },
} as const satisfies ParseArgsConfig['options'];

type Flags = Record<string, string | boolean | undefined>;

function parse(argv: string[]) {
  return parseArgs({ args: argv, options: OPTIONS, allowPositionals: true, strict: true });
}

/** Every command module has the same entry: the resolved settings and the operands, checked already. */
type CommandModule = { run(settings: Settings, operands: readonly string[]): Promise<number> };

/**
 * Each command loads only its own modules: `serve` never imports the converter or the evaluator, and `--version`,
 * `--help` and `--print-config` import none of them.
 */
const LOADERS: Readonly<Record<Command, () => Promise<CommandModule>>> = {
  classify: () => import('./cli/commands/classify.js'),
  serve: () => import('./cli/commands/serve.js'),
  convert: () => import('./cli/commands/convert.js'),
  fetch: () => import('./cli/commands/fetch.js'),
  eval: () => import('./cli/commands/eval.js'),
};

function isCommand(name: string | undefined): name is Command {
  return name !== undefined && Object.hasOwn(COMMANDS, name);
}

/**
 * Gives the classifier `gc` however the command was launched (bin, `node dist/cli.js`, npx), so it can
 * free each request's decoded image at once (classifier.ts; measured +38 MB → +12 MB RSS over 32
 * requests). The flag must be set before a fresh context is made to pick it up.
 */
function exposeGc(): void {
  if (globalThis.gc !== undefined) return;
  setFlagsFromString('--expose-gc');
  globalThis.gc = runInNewContext('gc') as NodeJS.GCFunction;
}

export async function main(argv: string[]): Promise<number> {
  exposeGc();
  let parsed: ReturnType<typeof parse>;
  try {
    parsed = parse(argv);
  } catch (error) {
    process.stderr.write(`resnet-serve: ${messageOf(error)}\n\n${USAGE}\n`);
    return 2;
  }
  const { positionals } = parsed;
  const flags: Flags = parsed.values;
  const [command, ...rest] = positionals;
  if (flags.version === true) {
    const pkg = JSON.parse(await readFile(new URL('../package.json', import.meta.url), 'utf8')) as { version: string };
    process.stdout.write(`${pkg.version}\n`);
    return 0;
  }
  // `COMMAND --help` and `help COMMAND`: that command's flags only.
  const helpFor = command === 'help' ? rest[0] : flags.help === true ? command : undefined;
  if (isCommand(helpFor)) {
    process.stdout.write(`${commandUsage(helpFor)}\n`);
    return 0;
  }
  if (flags.help === true || command === undefined || command === 'help') {
    process.stdout.write(`${USAGE}\n`);
    return command === undefined && flags.help !== true ? 2 : 0;
  }
  if (!isCommand(command)) {
    process.stderr.write(`resnet-serve: unknown command ${JSON.stringify(command)}\n\n${USAGE}\n`);
    return 2;
  }
  let debug = false;
  try {
    checkFlags(command, flags);
    const resolved = resolveSettings(command, flags);
    debug = resolved.values.debug;
    if (flags['print-config'] === true) {
      process.stdout.write(formatSettings(command, resolved, resolved.values.json));
      return 0;
    }
    checkOperands(command, rest);
    return await (await LOADERS[command]()).run(resolved.values, rest);
  } catch (error) {
    if (!isResnetServeError(error)) {
      // A bug, not a user error: say so plainly; the stack only when asked for.
      const detail = debug ? inspect(error) : String(error);
      process.stderr.write(`resnet-serve: unexpected failure: ${detail} [INTERNAL]\n`);
      return 1;
    }
    process.stderr.write(`resnet-serve: ${error.message} [${error.code}]\n`);
    return error.code === 'INVALID_ARGUMENT' ? 2 : 1;
  }
}

process.exitCode = await main(process.argv.slice(2));
