import { ERROR_CODES } from '../errors.js';
import { argumentRule } from '../guards.js';
import { maxColumns, padEndColumns } from './display-width.js';
import { type Command, defaultOf, type Group, type ResolvedSettings, SETTINGS, type Setting, type SettingKey } from './settings.js';

interface CommandSpec {
  /** One line of what it does, for its help. */
  readonly summary: string;
  /** Its flags and operands, after `resnet-serve <command>`. */
  readonly synopsis: string;
  /** The operands it takes: how many, and how a missing one is asked for. */
  readonly operands: { readonly min: number; readonly max: number; readonly name?: string; readonly missing?: string };
}

/** The five commands, in the order USAGE lists them. */
export const COMMANDS: Readonly<Record<Command, CommandSpec>> = {
  classify: {
    summary: 'the top-k ImageNet classes of images, or of every image under folders',
    synopsis:
      '[--model M | --weights W] [--top K] [--json | --jsonl FILE [--resume]] [--shard K/N] [--lang en|zh] [--explain DIR] IMAGE|FOLDER...',
    operands: { min: 1, max: Number.POSITIVE_INFINITY, name: 'IMAGE|FOLDER', missing: 'classify needs at least one IMAGE or FOLDER path.' },
  },
  serve: {
    summary: 'the HTTP API and the page (and with --grpc-port the gRPC service), until SIGTERM',
    synopsis: '[--model M | --weights W] [--host H] [--port P] [limits] [--print-config [--json]]',
    operands: { min: 0, max: 0 },
  },
  convert: {
    summary: 'a .pth or .safetensors state_dict to an ONNX model, fp32 or int8',
    synopsis: '--weights W --out model.onnx [--precision int8 [--calibration DIR] [--validate DIR]]',
    operands: { min: 0, max: 0 },
  },
  fetch: {
    summary: 'download the default weights into the cache, verified',
    synopsis: '[--weights-url URL]',
    operands: { min: 0, max: 0 },
  },
  eval: {
    summary: 'accuracy on a labelled set (and with --compare, of a second model beside it)',
    synopsis: '[--model M | --weights W] [--compare int8|MODEL] [--json] DIR|LIST.tsv',
    operands: {
      min: 1,
      max: 1,
      name: 'DIR|LIST.tsv',
      missing: 'eval needs exactly one DIR (class sub-folders) or TSV file (path<TAB>index lines).',
    },
  },
};

const ORDER = Object.keys(COMMANDS) as Command[];

const GROUP_TITLES: Record<Group, string> = {
  classify: 'Classify:',
  eval: 'Eval:',
  model: 'Model, cache and diagnostics:',
  serve: 'Serve:',
};

const FLAG_COLUMN = 26;

const PRECEDENCE = `Every setting is a flag or an environment variable; a flag wins over its variable, a variable over the default.
\`serve --print-config\` prints every value and where it came from.`;

function shownDefault(entry: Setting<unknown>): string {
  if (entry.shownDefault !== undefined) return entry.shownDefault;
  return String(defaultOf(entry));
}

function entries(): [SettingKey, Setting<unknown>][] {
  return Object.entries(SETTINGS) as [SettingKey, Setting<unknown>][];
}

/** One flag's line: the flag, its help, default, range and environment variable. */
function flagLine(entry: Setting<unknown>): string {
  const left = `  ${entry.flag}${entry.placeholder === undefined ? '' : ` ${entry.placeholder}`}`;
  const raw = defaultOf(entry);
  const value =
    entry.kind === 'integer' && entry.shownDefault !== undefined ? `${String(raw)} = ${entry.shownDefault}` : shownDefault(entry);
  const facts = entry.kind === 'boolean' ? '' : ` (default ${value}${entry.kind === 'integer' ? `; ${entry.range}` : ''})`;
  return `${padEndColumns(left, FLAG_COLUMN)}${entry.help}${facts}; env ${entry.env.join(' or ')}`;
}

/** Every flag line, grouped as USAGE shows them. */
export function usageLines(): string {
  return (Object.keys(GROUP_TITLES) as Group[])
    .map((group) => [GROUP_TITLES[group], ...entries().flatMap(([, entry]) => (entry.group === group ? [flagLine(entry)] : []))].join('\n'))
    .join('\n\n');
}

/** `resnet-serve --help`: every command and every flag. */
export const USAGE = `resnet-serve — ImageNet top-k classes from TorchVision's ResNet-18, on the CPU, offline after set-up.

Usage:
${ORDER.map((name) => `  resnet-serve ${padEndColumns(name, 8)} ${COMMANDS[name].synopsis}`).join('\n')}

${PRECEDENCE}
\`resnet-serve COMMAND --help\` lists that command's flags only.

${usageLines()}`;

/** `resnet-serve COMMAND --help`: what it does, its usage line and its flags only. */
export function commandUsage(command: Command): string {
  const { summary, synopsis } = COMMANDS[command];
  return `resnet-serve ${command} — ${summary}.

Usage:
  resnet-serve ${command} ${synopsis}

${PRECEDENCE}

Flags:
${entries()
  .flatMap(([, entry]) => (entry.commands.includes(command) ? [flagLine(entry)] : []))
  .join('\n')}
${padEndColumns('  --print-config', FLAG_COLUMN)}print every setting of ${command}, its value and where it came from (with --json: as JSON), and exit
${padEndColumns('  -h, --help', FLAG_COLUMN)}this help`;
}

/**
 * Refuses operands `command` does not take, naming them, and asks for the ones it needs. Under `npm start` a flag
 * given before `--` is npm's own, and its value reaches us as a stray operand: the message shows the `--` form.
 * @throws ResnetServeError INVALID_ARGUMENT.
 */
export function checkOperands(command: Command, operands: readonly string[], env: NodeJS.ProcessEnv = process.env): void {
  const { min, max, name, missing } = COMMANDS[command].operands;
  argumentRule(operands.length >= min, missing ?? '');
  if (operands.length <= max) return;
  const extra = operands.slice(max);
  const listed = extra.map((operand) => JSON.stringify(operand)).join(' ');
  const takes = max === 0 ? `${command} takes no operands` : `${command} takes one ${name}`;
  const hint =
    env.npm_lifecycle_event === 'start'
      ? 'npm keeps the flags before `--` for itself: run npm start -- --weights PATH (every flag after the `--`).'
      : `Flags start with --; \`resnet-serve ${command} --help\` lists them.`;
  argumentRule(false, `${takes}; it does not take ${listed}. ${hint}`);
}

/** The switches every command takes, beside its settings. */
const COMMON_FLAGS: ReadonlySet<string> = new Set(['--print-config', '--help', '--version']);

/**
 * Refuses flags `command` does not take, naming them: `classify --port 1` is a mistake to say, not a setting to
 * ignore. Checked before any value, so a flag that is not taken is reported as such whatever its value.
 * @param given - the flags parsed from the command line, by name without the leading `--`.
 * @throws ResnetServeError INVALID_ARGUMENT.
 */
export function checkFlags(command: Command, given: Readonly<Record<string, unknown>>): void {
  const taken = new Set([...COMMON_FLAGS, ...entries().flatMap(([, entry]) => (entry.commands.includes(command) ? [entry.flag] : []))]);
  const refused = Object.keys(given)
    .filter((name) => given[name] !== undefined)
    .map((name) => `--${name}`)
    .filter((flag) => !taken.has(flag));
  argumentRule(
    refused.length === 0,
    `${command} does not take ${refused.join(', ')}; \`resnet-serve ${command} --help\` lists the flags it takes.`,
  );
}

/** docs/limits.md's table, generated: `npm run docs` writes it there and test/unit/settings.test.ts keeps it equal. */
export function limitsTable(): string {
  const rows = ['| limit | default | flag | environment variable |', '| --- | --- | --- | --- |'];
  for (const [, entry] of entries()) {
    if (entry.limit === undefined) continue;
    const past = entry.limit.past === undefined ? '' : ` (${entry.limit.past})`;
    rows.push(
      `| ${entry.limit.what} | ${shownDefault(entry)}${past} | \`${entry.flag} ${entry.placeholder ?? ''}\` | \`${entry.env.join('`, `')}\` |`,
    );
  }
  return rows.join('\n');
}

/** docs/errors.md's table of every code in the registry, in its order: written and checked like {@link limitsTable}. */
export function errorCodesTable(): string {
  const rows = ['| code | HTTP | meaning |', '| --- | --- | --- |'];
  for (const [code, spec] of Object.entries(ERROR_CODES)) rows.push(`| \`${code}\` | ${spec.status} | ${spec.summary} |`);
  return rows.join('\n');
}

/** What `--print-config` leaves out: its own companion flag, which only chooses how it prints. */
const PRINT_CONFIG_OWN: ReadonlySet<SettingKey> = new Set(['json']);
const MASK = '****';

/**
 * `--print-config`: every setting of `command`, its value and where it came from; secrets (`--api-key`) masked.
 * @param json - one JSON object keyed by setting, else aligned columns.
 */
export function formatSettings(command: Command, resolved: ResolvedSettings, json: boolean): string {
  const keys = entries()
    .filter(([key, entry]) => entry.commands.includes(command) && !PRINT_CONFIG_OWN.has(key))
    .map(([key]) => key);
  const shown = (key: SettingKey): unknown => {
    const value = resolved.values[key];
    return SETTINGS[key].secret === true && value !== undefined ? MASK : value;
  };
  if (json) {
    return `${JSON.stringify(Object.fromEntries(keys.map((key) => [key, { value: shown(key) ?? null, source: resolved.sources[key] }])))}\n`;
  }
  const rows = keys.map((key) => [SETTINGS[key].flag, String(shown(key) ?? '(none)'), resolved.sources[key]] as const);
  // By display width: a value may be a path with CJK characters in it.
  const width = maxColumns(rows.map(([flag]) => flag));
  const valueWidth = maxColumns(rows.map(([, value]) => value));
  return `${rows.map(([flag, value, source]) => `${padEndColumns(flag, width)}  ${padEndColumns(value, valueWidth)}  ${source}`).join('\n')}\n`;
}
