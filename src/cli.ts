#!/usr/bin/env -S MALLOC_ARENA_MAX=2 MALLOC_MMAP_THRESHOLD_=65536 node --max-semi-space-size=2
// The flag caps V8's young generation at 2 MB per semi-space (default up to 16): a server whose requests
// allocate little JS keeps 8-12 MB less, for 1-3% fewer images/s at 16 clients (measured, int8). V8 reads
// it only at start-up, hence here, in the line that starts the command. glibc reads its settings at start-up
// too: MALLOC_ARENA_MAX=2, or each decoding thread gets an arena that keeps its freed buffers (25-40 MB more
// peak RSS in the soak benchmark); MALLOC_MMAP_THRESHOLD_=65536, so that socket reads, upload buffers and
// decoded pixels (all ≥ 64 KiB) go back to the system when freed instead of staying in the heap: after 30
// aborted 9.5 MB uploads RSS came back to +29 MB of idle in 2 s, against +219 MB held with glibc's defaults
// (test/integration/server-memory.test.ts).
import { mkdir, readFile } from 'node:fs/promises';
import { constants as osConstants } from 'node:os';
import { basename, extname, join } from 'node:path';
import { inspect, type ParseArgsConfig, parseArgs } from 'node:util';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { inShard, listInputs } from './bulk/inputs.js';
import { filesAlreadyDone, openJsonl } from './bulk/jsonl.js';
import { bulkProgressBar } from './bulk/progress.js';
import { classifyInputs, type FileResult } from './bulk/run.js';
import { createClassifier } from './classifier/index.js';
import { fileSystemFailed, isResnetServeError, messageOf, ResnetServeError } from './errors.js';
import { evalCommand } from './eval/command.js';
import { writeFileAtomic } from './files/files.js';
import { argumentRule, requiredArgument, shardOf } from './guards.js';
import { preprocessFolder } from './image/index.js';
import type { Lang } from './labels/types.js';
import { buildModel } from './model/build.js';
import { validateAgreement } from './model/quantize.js';
import { convertToOnnx } from './model/resnet.js';
import { type Command, DEFAULTS, formatSettings, resolveSettings, SETTINGS, type Settings, usageLines } from './settings.js';
import { type ModelSource, resolveModel } from './setup/resolve-model.js';
import { DEFAULT_WEIGHTS } from './weights/default-weights.js';
import { resolveWeights, weightsFileName } from './weights/fetch.js';
import { progressBar } from './weights/progress.js';
import { readStateDict } from './weights/read.js';

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

function modelSource(settings: Settings, onStep: (message: string) => void): ModelSource {
  argumentRule(settings.model === undefined || settings.weights === undefined, 'Give either --model or --weights, not both.');
  return {
    model: settings.model,
    weights: settings.weights,
    weightsUrl: settings.weightsUrl,
    precision: settings.precision,
    calibration: settings.calibration,
    home: settings.home,
    onStep,
    onProgress: downloadProgress(settings),
  };
}

async function classify(settings: Settings, operands: string[]): Promise<number> {
  argumentRule(operands.length > 0, 'classify needs at least one IMAGE or FOLDER path.');
  const { topK, lang, jsonl } = settings;
  argumentRule(!settings.resume || jsonl !== undefined, '--resume goes with --jsonl FILE.');
  const shard = settings.shard === undefined ? undefined : shardOf('--shard', settings.shard, process.env.JOB_COMPLETION_INDEX);
  const done = settings.resume && jsonl !== undefined ? await filesAlreadyDone(jsonl) : new Set<string>();
  const inputs = (await listInputs(operands)).filter(
    (input) => (shard === undefined || inShard(input.path, shard)) && !done.has(input.path),
  );
  // Enough files in flight to fill a batch while the next ones decode; never more than the queue admits.
  const concurrency = 2 * settings.maxBatch + settings.decodeConcurrency;
  const classifier = await createClassifier({
    model: await resolveModel(modelSource(settings, note)),
    precision: settings.precision,
    threads: settings.threads,
    maxBatch: settings.maxBatch,
    batchWaitMs: settings.batchWaitMs,
    decodeConcurrency: settings.decodeConcurrency,
    decodeBudgetBytes: settings.decodeBudgetBytes,
    maxPixels: settings.maxPixels,
    cacheDir: settings.home,
    maxQueue: Math.max(DEFAULTS.maxQueue, concurrency),
  });
  const overlays =
    settings.explain === undefined
      ? undefined
      : await overlayPaths(
          settings.explain,
          inputs.map((input) => input.path),
        );
  const sink = jsonl === undefined ? undefined : await openJsonl(jsonl, settings.resume);
  const progress = sink === undefined ? undefined : bulkProgressBar(inputs.length);
  // Results for stdout keep the order of the command line (and of each folder's sorted files).
  const results: FileResult[] = [];
  let failed = 0;
  try {
    const { skipped } = await classifyInputs(classifier, inputs, {
      topK,
      concurrency,
      explain: overlays === undefined ? undefined : { overlayFor: (index) => overlays[index]!, maxPixels: settings.maxPixels },
      async onResult(result, index) {
        if ('error' in result) failed++;
        if (sink === undefined) results[index] = result;
        else await sink.write(result);
      },
      onProgress: progress,
    });
    progress?.(inputs.length, true);
    if (sink !== undefined) {
      const resumed = done.size > 0 ? `, ${done.size} already there` : '';
      note(`${jsonl}: ${inputs.length - skipped} lines written (${failed} errors${resumed}); ${skipped} files skipped, not images`);
    } else {
      const ordered = results.filter((r) => r !== undefined);
      process.stdout.write(settings.json ? `${JSON.stringify(ordered)}\n` : formatTable(ordered, lang));
    }
    return failed > 0 ? 1 : 0;
  } finally {
    await sink?.close();
    await classifier.close();
  }
}

/**
 * `<dir>/<image name>.cam.png` for each file, made unique when two inputs share a name; creates `dir`.
 * @throws ResnetServeError FILESYSTEM_ERROR when the folder cannot be made.
 */
async function overlayPaths(dir: string, files: readonly string[]): Promise<string[]> {
  await mkdir(dir, { recursive: true }).catch((cause: unknown) => {
    throw fileSystemFailed(`Creating ${dir}`, cause);
  });
  const taken = new Set<string>();
  return files.map((file) => {
    const stem = basename(file, extname(file));
    let name = `${stem}.cam.png`;
    for (let n = 2; taken.has(name); n++) name = `${stem}-${n}.cam.png`;
    taken.add(name);
    return join(dir, name);
  });
}

function formatTable(results: FileResult[], lang: Lang): string {
  const lines: string[] = [];
  for (const result of results) {
    lines.push(result.file);
    if ('error' in result) {
      lines.push(`  error: ${result.error}`);
      continue;
    }
    const names = result.predictions.map((p) => (lang === 'zh' ? p.label_zh : p.label));
    const width = Math.max(...names.map(displayWidth));
    result.predictions.forEach((p, i) => {
      const name = names[i] ?? '';
      const pad = ' '.repeat(width - displayWidth(name));
      lines.push(`  ${i + 1}. ${name}${pad}  ${(p.probability * 100).toFixed(1).padStart(5)}%  (${p.index})`);
    });
    if (result.overlay !== undefined) lines.push(`  where it looked (class 1): ${result.overlay}`);
  }
  return `${lines.join('\n')}\n`;
}

/** CJK characters take two terminal columns. */
function displayWidth(text: string): number {
  let width = 0;
  for (const ch of text)
    width += /[\u1100-\u115f\u2e80-\ua4cf\uac00-\ud7a3\uf900-\ufaff\ufe30-\ufe4f\uff00-\uff60\uffe0-\uffe6]/u.test(ch) ? 2 : 1;
  return width;
}

async function convert(settings: Settings): Promise<number> {
  const { precision } = settings;
  const usage = 'convert needs --weights PATH and --out PATH.';
  const weights = requiredArgument(settings.weights, usage);
  const out = requiredArgument(settings.out, usage);
  argumentRule(
    precision === 'int8' || (settings.calibration === undefined && settings.validate === undefined),
    '--calibration and --validate go with --precision int8.',
  );
  const bytes = await readFile(weights).catch((cause: unknown) => {
    throw new ResnetServeError('INPUT_NOT_FOUND', `Cannot read ${weights}.`, { cause });
  });
  const stateDict = readStateDict(bytes);
  const calibration = settings.calibration === undefined ? undefined : await preprocessFolder(settings.calibration);
  const model = await buildModel(stateDict, { precision, calibration });
  await writeFileAtomic(out, model).catch((cause: unknown) => {
    throw fileSystemFailed(`Writing ${out}`, cause);
  });
  note(
    `Wrote ${out} (${precision}, ${(model.byteLength / 1e6).toFixed(1)} MB${calibration === undefined ? '' : `, calibrated on ${calibration.length} images`})`,
  );
  if (settings.validate !== undefined) {
    const report = await validateAgreement(convertToOnnx(stateDict), model, await preprocessFolder(settings.validate));
    const percent = (x: number): string => `${(x * 100).toFixed(1)}%`;
    process.stdout.write(
      `int8 vs fp32 on ${report.images} images: top-1 agreement ${percent(report.top1)}, ` +
        `fp32 top-1 within int8 top-3 ${percent(report.top3)}, mean KL ${report.meanKl.toExponential(2)} nats\n`,
    );
  }
  return 0;
}

/** A progress bar on a terminal, nothing in pipes and logs. */
function downloadProgress(settings: Settings): ReturnType<typeof progressBar> {
  return progressBar(weightsFileName(settings.weightsUrl ?? DEFAULT_WEIGHTS.url));
}

async function fetchCommand(settings: Settings): Promise<number> {
  const path = await resolveWeights({ weightsUrl: settings.weightsUrl, home: settings.home, onProgress: downloadProgress(settings) });
  note(`Weights ready at ${path}`);
  return 0;
}

async function serve(settings: Settings): Promise<number> {
  const { startServer, installShutdownHandlers } = await import('./server/start.js');
  // As PID 1 in a container, a signal without a handler is ignored: until the server can drain, SIGTERM stops
  // the command as its default action would anywhere else, so a pod deleted while it converts is not left to
  // the kubelet's SIGKILL at the end of the grace period.
  const stopEarly = (signal: NodeJS.Signals): void => process.exit(128 + osConstants.signals[signal]);
  process.once('SIGTERM', stopEarly).once('SIGINT', stopEarly);
  const source = modelSource(settings, note);
  // Weights are found, downloaded and converted before listening: offline with nothing cached, `serve`
  // exits with the one-paragraph explanation rather than answering 503 forever. /readyz still covers the
  // session load and warm-up that follow.
  const model = await resolveModel(source);
  // A first start converts (and maybe quantises) the checkpoint right here; V8 would keep that garbage until
  // it needed the room: RSS when ready 273 → 181 MB (fp32) and 209 → 153 MB (int8) with one full GC now.
  globalThis.gc?.();
  const handle = await startServer({
    host: settings.host,
    port: settings.port,
    grpcPort: settings.grpcPort,
    modelName: settings.modelName,
    maxInferImages: settings.maxInferImages,
    maxUploadBytes: settings.maxUploadBytes,
    maxPixels: settings.maxPixels,
    bodyTimeoutMs: settings.bodyTimeoutMs,
    headersTimeoutMs: settings.headersTimeoutMs,
    receiveTimeoutMs: settings.receiveTimeoutMs,
    keepAliveTimeoutMs: settings.keepAliveTimeoutMs,
    maxConnections: settings.maxConnections,
    apiKey: settings.apiKey,
    corsOrigins: settings.corsOrigins,
    rateLimit: settings.rateLimit,
    metricsPath: settings.metricsPath,
    docsPath: settings.docsPath,
    // The page's on-device mode downloads the very model this server runs, so both give the same answers.
    onDevice: settings.serverOnly ? undefined : { model, precision: settings.precision },
    loadClassifier: ({ observer, maxPixels }) =>
      createClassifier({
        model,
        precision: settings.precision,
        threads: settings.threads,
        maxQueue: settings.maxQueue,
        maxBatch: settings.maxBatch,
        batchWaitMs: settings.batchWaitMs,
        decodeConcurrency: settings.decodeConcurrency,
        decodeBudgetBytes: settings.decodeBudgetBytes,
        requestTimeoutMs: settings.requestTimeoutMs,
        cacheDir: settings.home,
        maxPixels,
        observer,
      }),
  });
  process.off('SIGTERM', stopEarly).off('SIGINT', stopEarly);
  installShutdownHandlers(handle);
  return handle.ready.then(
    () => new Promise<number>(() => undefined),
    async (error: unknown) => {
      await handle.close();
      throw error;
    },
  );
}

const COMMANDS: readonly Command[] = ['classify', 'serve', 'convert', 'fetch', 'eval'];

function isCommand(name: string): name is Command {
  return (COMMANDS as readonly string[]).includes(name);
}

function note(message: string): void {
  process.stderr.write(`${message}\n`);
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
    switch (command) {
      case 'classify':
        return await classify(settings, rest);
      case 'serve':
        return await serve(settings);
      case 'convert':
        return await convert(settings);
      case 'fetch':
        return await fetchCommand(settings);
      case 'eval':
        return await evalCommand(settings, rest, modelSource(settings, note));
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
