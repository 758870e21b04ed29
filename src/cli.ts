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
import { isResnetServeError, messageOf } from './errors.js';
import { type Command, formatSettings, resolveSettings, SETTINGS, usageLines } from './settings.js';

const USAGE = `resnet-serve — ImageNet top-k classes from TorchVision's ResNet-18, on the CPU, offline after set-up.

Usage:
  resnet-serve classify [--model M | --weights W] [--top K] [--json] [--lang en|zh] [--explain DIR] IMAGE...
  resnet-serve serve    [--model M | --weights W] [--host H] [--port P] [limits] [--print-config [--json]]
  resnet-serve convert  --weights W --out model.onnx [--precision int8 [--calibration DIR] [--validate DIR]]
  resnet-serve fetch    [--weights-url URL]
  resnet-serve eval     [--model M | --weights W] [--compare int8|MODEL] [--json] DIR|LIST.tsv

Every setting is a flag or an environment variable; a flag wins over its variable, a variable over the default.
\`serve --print-config\` prints every value and where it came from.

${usageLines()}`;

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

const COMMANDS: readonly Command[] = ['classify', 'serve', 'convert', 'fetch', 'eval'];

function isCommand(name: string): name is Command {
  return (COMMANDS as readonly string[]).includes(name);
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
    const resolved = resolveSettings(command, flags);
    debug = resolved.values.debug;
    if (flags['print-config'] === true) {
      process.stdout.write(formatSettings(command, resolved, resolved.values.json));
      return 0;
    }
    const settings = resolved.values;
    // Each command loads only its own modules: `serve` never imports the converter or the evaluator, and
    // `--version`, `--help` and `--print-config` import none of them.
    switch (command) {
      case 'classify':
        return await (await import('./cli/commands/classify.js')).classify(settings, rest);
      case 'serve':
        return await (await import('./cli/commands/serve.js')).serve(settings);
      case 'convert':
        return await (await import('./cli/commands/convert.js')).convert(settings);
      case 'fetch':
        return await (await import('./cli/commands/fetch.js')).fetchCommand(settings);
      case 'eval': {
        const [{ evalCommand }, { modelSource }] = await Promise.all([
          import('./cli/commands/eval.js'),
          import('./cli/commands/shared.js'),
        ]);
        return await evalCommand(settings, rest, modelSource(settings));
      }
    }
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
