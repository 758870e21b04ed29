import { CLASSIFIER_OPTIONS } from '../classifier/options.js';
import { cacheDir } from '../files/cache-dir.js';
import { booleanText, type IntegerOption, integerInRange, oneOf, optionalText, routePathOrOff } from '../guards.js';
import { TOP_K } from '../labels/postprocess.js';
import { LANGS } from '../labels/types.js';
import { DEFAULT_PRECISION, PRECISIONS } from '../model/types.js';
import { PROCESS_OPTIONS, SERVER_OPTIONS } from '../server/options.js';
import { DEFAULT_ARCHITECTURE } from '../weights/default-weights.js';

/**
 * The command line's table of settings. Every setting of the five commands (`classify`, `serve`, `convert`,
 * `fetch`, `eval`) is one entry: its flag, its environment variable, its type and one line of help. A setting that is
 * a stage's option takes its default and range from that stage (classifier/options.ts, server/options.ts,
 * labels/, image/limits.ts, engine/threads.ts, weights/, files/), so the library and the command line cannot
 * disagree; what is the command line's own (`--json`, `--jsonl`, `--out`…) is declared here. Parsing, USAGE and
 * each command's help, `--print-config` and docs/limits.md's table (usage.ts) all come from this table.
 *
 * Precedence: flag, then environment variable, then default. An empty environment variable counts as unset.
 */

export type Command = 'classify' | 'serve' | 'convert' | 'fetch' | 'eval';

/** Where a setting's help line goes in USAGE. */
export type Group = 'classify' | 'eval' | 'model' | 'serve';

interface SettingSpec<T> {
  /** The CLI flag, with its dashes. */
  readonly flag: `--${string}`;
  /** What the flag takes, for USAGE: `BYTES`, `MS`, `PATH`… (booleans take nothing). */
  readonly placeholder?: string;
  /** Extra environment variables read after `RESNET_SERVE_<FLAG>`, e.g. `PORT` as container platforms set it. */
  readonly aliases?: readonly string[];
  readonly commands: readonly Command[];
  readonly group: Group;
  /** One line of help. */
  readonly help: string;
  /** The value when nothing is given; a function for defaults read from the machine. */
  readonly default: T | (() => T);
  /** The default as people read it (docs, USAGE), when the raw value says less. */
  readonly shownDefault?: string;
  /** A row in docs/limits.md's table: what is limited and what happens past it. */
  readonly limit?: { readonly what: string; readonly past?: string };
  /** `--print-config` shows `****` instead of the value. */
  readonly secret?: boolean;
}

export interface Setting<T> extends SettingSpec<T> {
  readonly kind: 'integer' | 'choice' | 'text' | 'boolean';
  /** The environment variables, in the order they are read. */
  readonly env: readonly string[];
  /** Checks a value of any origin; `name` is what the error message calls it (`--port`, `PORT`, `port`). */
  check(name: string, value: unknown): T;
  /** Turns the text of a flag or environment variable into the value {@link check} expects. */
  parse(text: string): unknown;
  /** The range or choices, for USAGE and docs/limits.md (`1..64`, `fp32|int8`). */
  readonly range?: string;
}

function envName(flag: string): string {
  return `RESNET_SERVE_${flag.slice(2).replace(/-/g, '_').toUpperCase()}`;
}

function setting<T>(
  kind: Setting<T>['kind'],
  spec: SettingSpec<T>,
  check: Setting<T>['check'],
  parse: Setting<T>['parse'],
  range?: string,
): Setting<T> {
  return Object.freeze({ ...spec, kind, env: [envName(spec.flag), ...(spec.aliases ?? [])], check, parse, range });
}

function integer(spec: SettingSpec<number> & IntegerOption): Setting<number> {
  const { min, max } = spec;
  return setting(
    'integer',
    spec,
    (name, value) => integerInRange(name, value, min, max),
    (text) => (/^\d+$/.test(text) ? Number(text) : text),
    max === undefined ? `≥ ${min}` : `${min}..${max}`,
  );
}

function choice<const T extends string>(spec: SettingSpec<T> & { choices: readonly T[] }): Setting<T> {
  return setting(
    'choice',
    spec,
    (name, value) => oneOf(name, value, spec.choices),
    (text) => text,
    spec.choices.join('|'),
  );
}

function text(spec: SettingSpec<string | undefined>): Setting<string | undefined> {
  return setting('text', spec, optionalText, (value) => value);
}

/** Where a route is served: an absolute path, or `off` for nowhere. */
function routePath(spec: SettingSpec<string> & { default: string }): Setting<string> {
  return setting('text', spec, routePathOrOff, (value) => value);
}

/** A text setting that always has a value: its default when unset. */
function requiredText(spec: SettingSpec<string> & { default: string }): Setting<string> {
  return setting(
    'text',
    spec,
    (name, value) => optionalText(name, value) ?? spec.default,
    (value) => value,
  );
}

function boolean(spec: Omit<SettingSpec<boolean>, 'default'>): Setting<boolean> {
  return setting(
    'boolean',
    { ...spec, default: false },
    (name, value) => booleanText(name, value),
    (value) => value,
  );
}

/** The commands that run the classifier. */
const SERVING: readonly Command[] = ['classify', 'serve', 'eval'];

export const SETTINGS = {
  topK: integer({
    flag: '--top',
    placeholder: 'K',
    commands: ['classify'],
    group: 'classify',
    help: 'how many classes per image',
    ...TOP_K,
  }),
  json: boolean({
    flag: '--json',
    commands: ['classify', 'serve', 'eval'],
    group: 'classify',
    help: 'print JSON: [{"file","predictions":[…]}] (eval: the report; with --print-config: the settings)',
  }),
  lang: choice({
    flag: '--lang',
    placeholder: 'en|zh',
    commands: ['classify', 'eval'],
    group: 'classify',
    help: 'names in the table (JSON always has both)',
    default: 'en',
    choices: LANGS,
  }),
  jsonl: text({
    flag: '--jsonl',
    placeholder: 'FILE',
    commands: ['classify'],
    group: 'classify',
    help: 'write one JSON line per image to FILE as it is done, for folders of any size',
    default: undefined,
    shownDefault: 'none',
  }),
  resume: boolean({
    flag: '--resume',
    commands: ['classify'],
    group: 'classify',
    help: 'with --jsonl: skip the files FILE already has a line for, and append',
  }),
  shard: text({
    flag: '--shard',
    placeholder: 'K/N',
    commands: ['classify'],
    group: 'classify',
    help: "classify shard K (0..N-1) of N, a stable split of the files; 'N' alone takes K from JOB_COMPLETION_INDEX",
    default: undefined,
    shownDefault: 'every file',
  }),
  explain: text({
    flag: '--explain',
    placeholder: 'DIR',
    commands: ['classify'],
    group: 'classify',
    help: "write <DIR>/<image>.cam.png per image: the photo, dimmed outside what the model saw, under the top class's heatmap",
    default: undefined,
    shownDefault: 'none',
  }),
  compare: text({
    flag: '--compare',
    placeholder: 'int8|MODEL|WEIGHTS',
    commands: ['eval'],
    group: 'eval',
    help: 'a second model side by side: int8 (the same weights quantised), an .onnx file, or a .pth/.safetensors state_dict',
    default: undefined,
    shownDefault: 'none',
  }),
  compareArch: text({
    flag: '--compare-arch',
    placeholder: 'NAME',
    commands: ['eval'],
    group: 'eval',
    help: "the second model's TorchVision architecture: its DEFAULT weights, or those --compare names",
    default: undefined,
    shownDefault: 'none',
  }),
  model: text({
    flag: '--model',
    placeholder: 'PATH',
    commands: SERVING,
    group: 'model',
    help: 'a ready .onnx model (input [N,3,S,S] → logits [N,C]); a <stem>.json beside it may give its recipe',
    default: undefined,
    shownDefault: 'none',
  }),
  arch: text({
    flag: '--arch',
    placeholder: 'NAME',
    commands: ['classify', 'serve', 'convert', 'fetch', 'eval'],
    group: 'model',
    help: "TorchVision's builder name (resnet50, regnet_y_400mf…); without --weights, its DEFAULT weights are downloaded",
    default: undefined,
    shownDefault: `what the weights' file name says, else ${DEFAULT_ARCHITECTURE}`,
  }),
  weights: text({
    flag: '--weights',
    placeholder: 'PATH',
    commands: ['classify', 'serve', 'convert', 'eval'],
    group: 'model',
    help: 'a .pth or .safetensors state_dict, converted once and cached',
    default: undefined,
    shownDefault: 'the cached TorchVision weights',
  }),
  weightsUrl: text({
    flag: '--weights-url',
    placeholder: 'URL',
    commands: ['classify', 'serve', 'fetch', 'eval'],
    group: 'model',
    help: 'where to download the weights (a mirror)',
    default: undefined,
    shownDefault: "the architecture's DEFAULT weights at download.pytorch.org",
  }),
  precision: choice({
    flag: '--precision',
    placeholder: 'P',
    commands: ['classify', 'serve', 'convert', 'eval'],
    group: 'model',
    help: 'fp32, or int8: per-channel int8 weights, uint8 activations (QDQ)',
    default: DEFAULT_PRECISION,
    choices: PRECISIONS,
  }),
  calibration: text({
    flag: '--calibration',
    placeholder: 'DIR',
    commands: ['classify', 'serve', 'convert', 'eval'],
    group: 'model',
    help: 'int8: images to measure activation ranges on',
    default: undefined,
    shownDefault: 'from BatchNorm statistics',
  }),
  validate: text({
    flag: '--validate',
    placeholder: 'DIR',
    commands: ['convert'],
    group: 'model',
    help: 'convert --precision int8: report top-1/top-3 agreement and KL against fp32',
    default: undefined,
    shownDefault: 'none',
  }),
  out: text({
    flag: '--out',
    placeholder: 'PATH',
    commands: ['convert'],
    group: 'model',
    help: 'convert: where to write the .onnx model',
    default: undefined,
    shownDefault: 'none',
  }),
  threads: integer({
    flag: '--threads',
    placeholder: 'N',
    commands: SERVING,
    group: 'model',
    help: 'ONNX Runtime threads',
    ...CLASSIFIER_OPTIONS.threads,
    shownDefault: "the machine's cores",
    limit: { what: 'ONNX Runtime threads' },
  }),
  home: text({
    flag: '--home',
    placeholder: 'DIR',
    commands: ['classify', 'serve', 'convert', 'fetch', 'eval'],
    group: 'model',
    help: 'cache of downloaded weights and converted models',
    default: () => cacheDir(),
    shownDefault: '~/.cache/resnet-serve',
  }),
  debug: boolean({
    flag: '--debug',
    commands: ['classify', 'serve', 'convert', 'fetch', 'eval'],
    group: 'model',
    help: 'on an unexpected failure, print its stack',
  }),
  host: requiredText({
    flag: '--host',
    placeholder: 'H',
    commands: ['serve'],
    group: 'serve',
    help: 'address to listen on',
    default: SERVER_OPTIONS.host.default,
  }),
  port: integer({
    flag: '--port',
    placeholder: 'P',
    aliases: ['PORT'],
    commands: ['serve'],
    group: 'serve',
    help: 'port to listen on; 0 picks a free one',
    ...SERVER_OPTIONS.port,
  }),
  modelRepository: text({
    flag: '--model-repository',
    placeholder: 'DIR',
    commands: ['serve'],
    group: 'serve',
    help: 'serve every model in DIR: each *.pth, *.safetensors or *.onnx is a model named by its stem (docs/models.md)',
    default: undefined,
    shownDefault: 'one model (--arch, --weights, --model)',
  }),
  defaultModel: text({
    flag: '--default-model',
    placeholder: 'NAME',
    commands: ['serve'],
    group: 'serve',
    help: 'with --model-repository: the model of requests that name none (/predict, the page)',
    default: undefined,
    shownDefault: 'the first, by file name',
  }),
  modelMemoryBudgetMb: integer({
    flag: '--model-memory-budget',
    placeholder: 'MB',
    commands: ['serve'],
    group: 'serve',
    help: 'megabytes of models (their ONNX files) loaded at once; past it the least recently used idle one is unloaded; 0: no budget',
    ...SERVER_OPTIONS.modelMemoryBudgetMb,
    shownDefault: 'no budget',
    limit: { what: 'models loaded at once (MB of ONNX)', past: 'the least recently used idle model unloads; reloads on its next request' },
  }),
  modelLoading: choice({
    flag: '--model-loading',
    placeholder: 'WHEN',
    commands: ['serve'],
    group: 'serve',
    help: 'startup: every model loads before /readyz; first-use: each loads on its first request',
    ...SERVER_OPTIONS.modelLoading,
  }),
  modelLoadWaitMs: integer({
    flag: '--model-load-wait',
    placeholder: 'MS',
    commands: ['serve'],
    group: 'serve',
    help: 'longest a request waits for its model to load on demand',
    ...SERVER_OPTIONS.modelLoadWaitMs,
    limit: { what: 'wait for a model loading on demand', past: '503 NOT_READY' },
  }),
  modelName: text({
    flag: '--model-name',
    placeholder: 'NAME',
    commands: ['serve'],
    group: 'serve',
    help: 'the model name in Open Inference Protocol, gRPC and TorchServe URLs and answers',
    default: undefined,
    shownDefault: "the architecture (resnet18), or the .onnx file's stem",
  }),
  grpcPort: integer({
    flag: '--grpc-port',
    placeholder: 'P',
    commands: ['serve'],
    group: 'serve',
    help: "port of the Open Inference Protocol's gRPC service (KServe's is 8081); 0 leaves it off",
    ...SERVER_OPTIONS.grpcPort,
    shownDefault: 'off',
  }),
  grpcMaxReceiveBytes: integer({
    flag: '--grpc-max-receive',
    placeholder: 'BYTES',
    commands: ['serve'],
    group: 'serve',
    help: 'largest gRPC message; larger ones are refused RESOURCE_EXHAUSTED before decoding; 0 derives it from the largest valid request',
    ...SERVER_OPTIONS.grpcMaxReceiveBytes,
    shownDefault: '--max-infer-images × (--max-upload + 4) + 64 KiB',
    limit: { what: 'gRPC message size', past: 'RESOURCE_EXHAUSTED from grpc-js, before the message is decoded' },
  }),
  grpcMaxStreams: integer({
    flag: '--grpc-max-streams',
    placeholder: 'N',
    commands: ['serve'],
    group: 'serve',
    help: 'concurrent gRPC calls on one connection (HTTP/2 streams)',
    ...SERVER_OPTIONS.grpcMaxStreams,
    limit: { what: 'gRPC streams per connection', past: 'the HTTP/2 setting the client must respect' },
  }),
  grpcMaxCalls: integer({
    flag: '--grpc-max-calls',
    placeholder: 'N',
    commands: ['serve'],
    group: 'serve',
    help: 'gRPC ModelInfer calls in progress at once; more are refused RESOURCE_EXHAUSTED (QUEUE_FULL)',
    ...SERVER_OPTIONS.grpcMaxCalls,
    limit: { what: 'gRPC ModelInfer calls in progress', past: 'RESOURCE_EXHAUSTED `QUEUE_FULL` at the headers' },
  }),
  maxUploadBytes: integer({
    flag: '--max-upload',
    placeholder: 'BYTES',
    commands: ['serve'],
    group: 'serve',
    help: 'largest upload',
    ...SERVER_OPTIONS.maxUploadBytes,
    shownDefault: '10 MiB',
    limit: { what: 'upload size', past: '413 `FILE_TOO_LARGE`, the rest is not read' },
  }),
  maxPixels: integer({
    flag: '--max-pixels',
    placeholder: 'N',
    commands: SERVING,
    group: 'serve',
    help: 'largest image in pixels, read from the header before decoding',
    ...CLASSIFIER_OPTIONS.maxPixels,
    shownDefault: '40 megapixels',
    limit: { what: 'image size', past: '413 `IMAGE_TOO_LARGE`, from the header, before decoding' },
  }),
  maxInferImages: integer({
    flag: '--max-infer-images',
    placeholder: 'N',
    commands: ['serve'],
    group: 'serve',
    help: 'images (or tensors) in one Open Inference Protocol request; its body may hold N uploads',
    ...SERVER_OPTIONS.maxInferImages,
    limit: { what: 'images in one inference request', past: '400 `INVALID_ARGUMENT`; each image is limited as an upload' },
  }),
  maxQueue: integer({
    flag: '--max-queue',
    placeholder: 'N',
    commands: ['serve'],
    group: 'serve',
    help: 'requests waiting for inference before 503',
    ...CLASSIFIER_OPTIONS.maxQueue,
    limit: { what: 'queued requests', past: '503 `QUEUE_FULL` with `Retry-After`' },
  }),
  maxBatch: integer({
    flag: '--max-batch',
    placeholder: 'N',
    commands: SERVING,
    group: 'serve',
    help: 'images per inference run',
    ...CLASSIFIER_OPTIONS.maxBatch,
    limit: { what: 'images per inference run' },
  }),
  batchWaitMs: integer({
    flag: '--batch-wait',
    placeholder: 'MS',
    commands: SERVING,
    group: 'serve',
    help: 'how long a lone request waits for others to batch with',
    ...CLASSIFIER_OPTIONS.batchWaitMs,
    shownDefault: '2 ms',
    limit: { what: 'wait for a batch to fill' },
  }),
  decodeConcurrency: integer({
    flag: '--decode-concurrency',
    placeholder: 'N',
    commands: SERVING,
    group: 'serve',
    help: 'images decoded at once while a batch runs; at most one of them over 4 megapixels',
    ...CLASSIFIER_OPTIONS.decodeConcurrency,
    limit: { what: 'images decoded while a batch runs', past: 'at most one of them over 4 megapixels' },
  }),
  serverOnly: boolean({
    flag: '--server-only',
    commands: ['serve'],
    group: 'serve',
    help: "turn off the page's on-device mode: no model download, every photo is classified by this server",
  }),
  requestTimeoutMs: integer({
    flag: '--request-timeout',
    placeholder: 'MS',
    commands: ['serve'],
    group: 'serve',
    help: 'longest a request may take from admission until its batch starts, before 503',
    ...CLASSIFIER_OPTIONS.requestTimeoutMs,
    shownDefault: '30 s',
    limit: { what: 'wait from admission to inference', past: '503 `TIMEOUT`' },
  }),
  decodeBudgetBytes: integer({
    flag: '--decode-budget',
    placeholder: 'BYTES',
    commands: SERVING,
    group: 'serve',
    help: 'bytes of decoded pixels (width × height × channels) in flight at once; a larger image alone is refused',
    ...CLASSIFIER_OPTIONS.decodeBudgetBytes,
    shownDefault: '128 MiB',
    limit: { what: 'decoded pixels in flight', past: 'later images wait; one needing more alone: 413 `IMAGE_OVER_BUDGET`' },
  }),
  headersTimeoutMs: integer({
    flag: '--headers-timeout',
    placeholder: 'MS',
    commands: ['serve'],
    group: 'serve',
    help: 'longest wait for a request line and its headers (slow clients, slowloris)',
    ...SERVER_OPTIONS.headersTimeoutMs,
    shownDefault: '20 s',
    limit: { what: 'time to send the headers', past: '408 `REQUEST_TIMEOUT`, connection closed' },
  }),
  bodyTimeoutMs: integer({
    flag: '--body-timeout',
    placeholder: 'MS',
    commands: ['serve'],
    group: 'serve',
    help: 'longest silence inside a request body',
    ...SERVER_OPTIONS.bodyTimeoutMs,
    shownDefault: '10 s',
    limit: { what: 'silence inside a request body', past: '408 `UPLOAD_TIMEOUT`' },
  }),
  receiveTimeoutMs: integer({
    flag: '--receive-timeout',
    placeholder: 'MS',
    commands: ['serve'],
    group: 'serve',
    help: 'longest time to receive a whole request, headers and body (at least --headers-timeout)',
    ...SERVER_OPTIONS.receiveTimeoutMs,
    shownDefault: '120 s',
    limit: { what: 'time to receive a whole request', past: '408 `REQUEST_TIMEOUT`' },
  }),
  keepAliveTimeoutMs: integer({
    flag: '--keep-alive-timeout',
    placeholder: 'MS',
    commands: ['serve'],
    group: 'serve',
    help: 'how long an idle keep-alive connection stays open',
    ...SERVER_OPTIONS.keepAliveTimeoutMs,
    shownDefault: '5 s',
    limit: { what: 'idle keep-alive connection' },
  }),
  heapLimitMb: integer({
    flag: '--heap-limit',
    placeholder: 'MIB',
    commands: ['serve'],
    group: 'serve',
    help: "V8's heap limit (--max-old-space-size) in MiB; 0 keeps Node's (the image starts Node with 256). Another value restarts `serve` with it",
    ...PROCESS_OPTIONS.heapLimitMb,
    shownDefault: 'as started',
    limit: { what: "the server's JavaScript heap", past: 'the process ends (every request body is bounded well under it)' },
  }),
  maxConnections: integer({
    flag: '--max-connections',
    placeholder: 'N',
    commands: ['serve'],
    group: 'serve',
    help: 'open connections before new ones are refused (health probes still answer)',
    ...SERVER_OPTIONS.maxConnections,
    limit: { what: 'open connections', past: '503 `TOO_MANY_CONNECTIONS` with `Retry-After`; `/healthz` and `/readyz` still answer' },
  }),
  apiKey: text({
    flag: '--api-key',
    placeholder: 'KEY',
    commands: ['serve'],
    group: 'serve',
    help: 'require `Authorization: Bearer KEY` on inference routes (prefer the environment variable: flags show in `ps`)',
    default: undefined,
    shownDefault: 'none',
    secret: true,
  }),
  corsOrigins: text({
    flag: '--cors-origin',
    placeholder: 'ORIGINS',
    commands: ['serve'],
    group: 'serve',
    help: 'comma-separated origins whose pages may call inference routes, or *',
    default: undefined,
    shownDefault: 'none: same origin only',
  }),
  rateLimit: integer({
    flag: '--rate-limit',
    placeholder: 'N',
    commands: ['serve'],
    group: 'serve',
    help: 'requests a minute per client address on inference routes; 0 = no limit',
    ...SERVER_OPTIONS.rateLimit,
    shownDefault: 'no limit',
    limit: { what: 'requests a minute per address', past: '429 `RATE_LIMITED` with `Retry-After`' },
  }),
  metricsPath: routePath({
    flag: '--metrics-path',
    placeholder: 'PATH|off',
    commands: ['serve'],
    group: 'serve',
    help: 'where Prometheus metrics are served, or off',
    default: SERVER_OPTIONS.metricsPath.default,
  }),
  docsPath: routePath({
    flag: '--docs-path',
    placeholder: 'PATH|off',
    commands: ['serve'],
    group: 'serve',
    help: 'where the API docs page is served, or off (off also drops /openapi.json)',
    default: SERVER_OPTIONS.docsPath.default,
  }),
} as const;

export type SettingKey = keyof typeof SETTINGS;
type ValueOf<S> = S extends Setting<infer T> ? T : never;
/** Every setting's value, as the commands receive them. */
export type Settings = { -readonly [K in SettingKey]: ValueOf<(typeof SETTINGS)[K]> };

/** Where a resolved value came from, as `--print-config` shows it. */
export type Source = 'flag' | 'default' | `env ${string}`;

export interface ResolvedSettings {
  readonly values: Settings;
  readonly sources: Readonly<Record<SettingKey, Source>>;
}

export function defaultOf<T>(entry: Setting<T>): T {
  return typeof entry.default === 'function' ? (entry.default as () => T)() : entry.default;
}

/**
 * Resolves every setting `command` takes: flag, then environment variable, then default, each checked against
 * the table. Settings the command does not take keep their defaults and are not read from the environment.
 *
 * @param flags - `parseArgs` values keyed by flag name without dashes (`'max-upload'`).
 * @throws ResnetServeError INVALID_ARGUMENT naming the flag or variable and what it expects.
 */
export function resolveSettings(
  command: Command,
  flags: Readonly<Record<string, string | boolean | undefined>>,
  env: NodeJS.ProcessEnv = process.env,
): ResolvedSettings {
  const values: Record<string, unknown> = {};
  const sources: Record<string, Source> = {};
  for (const [key, entry] of Object.entries(SETTINGS) as [SettingKey, Setting<unknown>][]) {
    const fromFlag = flags[entry.flag.slice(2)];
    const fromEnv = entry.commands.includes(command) ? entry.env.find((name) => env[name] !== undefined && env[name] !== '') : undefined;
    if (fromFlag !== undefined) {
      values[key] = entry.check(entry.flag, typeof fromFlag === 'string' ? entry.parse(fromFlag) : fromFlag);
      sources[key] = 'flag';
    } else if (fromEnv !== undefined) {
      values[key] = entry.check(fromEnv, entry.parse(env[fromEnv] as string));
      sources[key] = `env ${fromEnv}`;
    } else {
      values[key] = defaultOf(entry);
      sources[key] = 'default';
    }
  }
  return { values: values as Settings, sources: sources as Record<SettingKey, Source> };
}

/** Every default, keyed as the library options are. */
export const DEFAULTS = Object.freeze({
  ...(Object.fromEntries(Object.entries(SETTINGS).map(([key, entry]) => [key, defaultOf(entry as Setting<unknown>)])) as Settings),
  /** The largest `topK` / `--top`. */
  maxTopK: TOP_K.max,
});

/**
 * The settings `command` takes that are options of a stage, picked by the stage's own option names (the keys of
 * `SERVER_OPTIONS`, `CLASSIFIER_OPTIONS`): a command hands them over without copying them one by one, and a setting
 * the command does not take is left out, so the stage applies its own default.
 */
export function stageOptions<const Names extends object>(
  command: Command,
  settings: Settings,
  names: Names,
): Partial<Pick<Settings, keyof Names & SettingKey>> {
  return Object.fromEntries(
    (Object.keys(names) as string[])
      .filter((name): name is SettingKey => name in SETTINGS && SETTINGS[name as SettingKey].commands.includes(command))
      .map((key) => [key, settings[key]]),
  ) as Partial<Pick<Settings, keyof Names & SettingKey>>;
}
