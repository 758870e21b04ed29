#!/usr/bin/env -S node --max-semi-space-size=2
// The flag caps V8's young generation at 2 MB per semi-space (default up to 16): a server whose requests
// allocate little JS keeps 8-12 MB less, for 1-3% fewer images/s at 16 clients (measured, int8). V8 reads
// it only at start-up, hence here, in the line that starts the command.
import { readFile } from 'node:fs/promises';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { writeFileAtomic } from './atomic-write.js';
import { createClassifier } from './classifier.js';
import { DEFAULT_WEIGHTS, DEFAULTS, cacheDir } from './config.js';
import { ResnetServeError, isResnetServeError } from './errors.js';
import { integerInRange, oneOf } from './guards.js';
import { buildModel } from './model/build.js';
import { resolveModel, type ModelSource } from './model/cache.js';
import { validateAgreement } from './model/quantize.js';
import { preprocessFolder } from './image/index.js';
import { convertToOnnx } from './model/resnet.js';
import type { Lang, Precision, Prediction } from './types.js';
import { readStateDict } from './weights/read.js';
import { resolveWeights, weightsFileName } from './weights/fetch.js';
import { progressBar } from './weights/progress.js';

const USAGE = `resnet-serve — ImageNet top-k classes from TorchVision's ResNet-18, on the CPU, offline after set-up.

Usage:
  resnet-serve classify [--model M | --weights W] [--top K] [--json] [--lang en|zh] IMAGE...
  resnet-serve serve    [--model M | --weights W] [--host H] [--port P] [limits]
  resnet-serve convert  --weights W --out model.onnx [--precision int8 [--calibration DIR] [--validate DIR]]
  resnet-serve fetch    [--weights-url URL]

Classify:
  --top K               how many classes per image, 1..${DEFAULTS.maxTopK} (default ${DEFAULTS.topK})
  --json                print JSON: [{"file","predictions":[{"index","label","label_zh","probability"}]}]
  --lang en|zh          names in the table (default en; JSON always has both)

Model (classify, serve):
  --model PATH          a ready .onnx model (input [N,3,224,224] → logits [N,C])
  --weights PATH        a .pth or .safetensors state_dict, converted once and cached
  --weights-url URL     where to download the default weights (default ${DEFAULT_WEIGHTS.url})
  --precision P         fp32 (default) or int8: per-channel int8 weights, uint8 activations (QDQ)
  --calibration DIR     int8: images to measure activation ranges on (default: from BatchNorm statistics)
  --validate DIR        convert --precision int8: report top-1/top-3 agreement and KL against fp32
  --threads N           ONNX Runtime threads (default ${DEFAULTS.intraOpThreads}, the cores)

Limits (serve):
  --host H              address to listen on (default ${DEFAULTS.host})
  --port P              port (default ${DEFAULTS.port})
  --max-upload BYTES    largest upload (default ${DEFAULTS.maxUploadBytes})
  --max-pixels N        largest image in pixels (default ${DEFAULTS.maxPixels})
  --max-queue N         requests waiting for inference before 503 (default ${DEFAULTS.maxQueue})
  --max-batch N         images per inference run (default ${DEFAULTS.maxBatch})
  --batch-wait MS       how long a request waits for others to batch with (default ${DEFAULTS.batchWaitMs})
  --decode-concurrency N  images decoded at once while a batch runs (default ${DEFAULTS.decodeConcurrency})
  --request-timeout MS  longest wait in the queue before 503 (default ${DEFAULTS.requestTimeoutMs})

Weights are cached in $RESNET_SERVE_HOME (now ${cacheDir()}).`;

const OPTIONS = {
  model: { type: 'string' },
  weights: { type: 'string' },
  'weights-url': { type: 'string' },
  precision: { type: 'string' },
  threads: { type: 'string' },
  top: { type: 'string' },
  json: { type: 'boolean' },
  lang: { type: 'string' },
  out: { type: 'string' },
  calibration: { type: 'string' },
  validate: { type: 'string' },
  host: { type: 'string' },
  port: { type: 'string' },
  'max-upload': { type: 'string' },
  'max-pixels': { type: 'string' },
  'max-queue': { type: 'string' },
  'max-batch': { type: 'string' },
  'batch-wait': { type: 'string' },
  'decode-concurrency': { type: 'string' },
  'request-timeout': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
  version: { type: 'boolean' },
} as const satisfies ParseArgsConfig['options'];

type Flags = ReturnType<typeof parse>['values'];

function parse(argv: string[]) {
  return parseArgs({ args: argv, options: OPTIONS, allowPositionals: true, strict: true });
}

/** A whole-number flag, or its default when absent. */
function intFlag(flags: Flags, name: keyof Flags, fallback: number, min: number, max?: number): number {
  const raw = flags[name];
  if (raw === undefined) return fallback;
  const value = typeof raw === 'string' && /^\d+$/.test(raw) ? Number(raw) : raw;
  return integerInRange(`--${name}`, value, min, max);
}

function modelSource(flags: Flags, onStep: (message: string) => void): ModelSource {
  if (flags.model !== undefined && flags.weights !== undefined) {
    throw new ResnetServeError('INVALID_ARGUMENT', 'Give either --model or --weights, not both.');
  }
  return {
    model: flags.model,
    weights: flags.weights,
    weightsUrl: flags['weights-url'],
    precision: precisionFlag(flags),
    calibration: flags.calibration,
    onStep,
    onProgress: downloadProgress(flags),
  };
}

function precisionFlag(flags: Flags): Precision {
  return oneOf<Precision>('--precision', flags.precision ?? 'fp32', ['fp32', 'int8']);
}

async function classify(flags: Flags, files: string[]): Promise<number> {
  if (files.length === 0) throw new ResnetServeError('INVALID_ARGUMENT', 'classify needs at least one IMAGE path.');
  const topK = intFlag(flags, 'top', DEFAULTS.topK, 1, DEFAULTS.maxTopK);
  const lang = oneOf<Lang>('--lang', flags.lang ?? 'en', ['en', 'zh']);
  const source = modelSource(flags, note);
  const classifier = await createClassifier({
    model: await resolveModel(source),
    precision: source.precision,
    threads: intFlag(flags, 'threads', DEFAULTS.intraOpThreads, 1, 256),
    maxQueue: Math.max(DEFAULTS.maxQueue, files.length),
  });
  try {
    // Every file is submitted at once so the queue can batch them; answers keep the command-line order.
    const results = await Promise.all(files.map(async (file) => {
      try {
        const bytes = await readFile(file).catch((cause: unknown) => {
          throw new ResnetServeError('INPUT_NOT_FOUND', `Cannot read ${file}: ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
        });
        const { predictions } = await classifier.classify(bytes, { topK });
        return { file, predictions };
      } catch (error) {
        if (!isResnetServeError(error)) throw error;
        return { file, error: error.message };
      }
    }));
    process.stdout.write(flags.json === true ? `${JSON.stringify(results)}\n` : formatTable(results, lang));
    return results.some((r) => 'error' in r) ? 1 : 0;
  } finally {
    await classifier.close();
  }
}

function formatTable(results: ({ file: string; predictions: Prediction[] } | { file: string; error: string })[], lang: Lang): string {
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
  }
  return `${lines.join('\n')}\n`;
}

/** CJK characters take two terminal columns. */
function displayWidth(text: string): number {
  let width = 0;
  for (const ch of text) width += /[\u1100-\u115f\u2e80-\ua4cf\uac00-\ud7a3\uf900-\ufaff\ufe30-\ufe4f\uff00-\uff60\uffe0-\uffe6]/u.test(ch) ? 2 : 1;
  return width;
}

async function convert(flags: Flags): Promise<number> {
  if (flags.weights === undefined || flags.out === undefined) {
    throw new ResnetServeError('INVALID_ARGUMENT', 'convert needs --weights PATH and --out PATH.');
  }
  const precision = precisionFlag(flags);
  if (precision !== 'int8' && (flags.calibration !== undefined || flags.validate !== undefined)) {
    throw new ResnetServeError('INVALID_ARGUMENT', '--calibration and --validate go with --precision int8.');
  }
  const bytes = await readFile(flags.weights).catch((cause: unknown) => {
    throw new ResnetServeError('INPUT_NOT_FOUND', `Cannot read ${flags.weights}.`, { cause });
  });
  const stateDict = readStateDict(bytes);
  const calibration = flags.calibration === undefined ? undefined : await preprocessFolder(flags.calibration);
  const model = await buildModel(stateDict, { precision, calibration });
  await writeFileAtomic(flags.out, model);
  note(`Wrote ${flags.out} (${precision}, ${(model.byteLength / 1e6).toFixed(1)} MB${calibration === undefined ? '' : `, calibrated on ${calibration.length} images`})`);
  if (flags.validate !== undefined) {
    const report = await validateAgreement(convertToOnnx(stateDict), model, await preprocessFolder(flags.validate));
    const percent = (x: number): string => `${(x * 100).toFixed(1)}%`;
    process.stdout.write(`int8 vs fp32 on ${report.images} images: top-1 agreement ${percent(report.top1)}, `
      + `fp32 top-1 within int8 top-3 ${percent(report.top3)}, mean KL ${report.meanKl.toExponential(2)} nats\n`);
  }
  return 0;
}

/** A progress bar on a terminal, nothing in pipes and logs. */
function downloadProgress(flags: Flags): ReturnType<typeof progressBar> {
  return progressBar(weightsFileName(flags['weights-url'] ?? DEFAULT_WEIGHTS.url));
}

async function fetchCommand(flags: Flags): Promise<number> {
  const path = await resolveWeights({ weightsUrl: flags['weights-url'], home: cacheDir(), onProgress: downloadProgress(flags) });
  note(`Weights ready at ${path}`);
  return 0;
}

async function serve(flags: Flags): Promise<number> {
  const { startServer, installShutdownHandlers } = await import('./server/start.js');
  const source = modelSource(flags, note);
  const maxPixels = intFlag(flags, 'max-pixels', DEFAULTS.maxPixels, 1);
  // Every flag is read before anything starts, so a bad one stops the command instead of a half-up server.
  const classifierOptions = {
    precision: source.precision,
    threads: intFlag(flags, 'threads', DEFAULTS.intraOpThreads, 1, 256),
    maxQueue: intFlag(flags, 'max-queue', DEFAULTS.maxQueue, 1),
    maxBatch: intFlag(flags, 'max-batch', DEFAULTS.maxBatch, 1, 64),
    batchWaitMs: intFlag(flags, 'batch-wait', DEFAULTS.batchWaitMs, 0, 1000),
    decodeConcurrency: intFlag(flags, 'decode-concurrency', DEFAULTS.decodeConcurrency, 1, 64),
    requestTimeoutMs: intFlag(flags, 'request-timeout', DEFAULTS.requestTimeoutMs, 1),
    maxPixels,
  };
  const listen = {
    host: flags.host ?? DEFAULTS.host,
    port: intFlag(flags, 'port', DEFAULTS.port, 0, 65535),
    maxUploadBytes: intFlag(flags, 'max-upload', DEFAULTS.maxUploadBytes, 1),
  };
  // Weights are found, downloaded and converted before listening: offline with nothing cached, `serve`
  // exits with the one-paragraph explanation rather than answering 503 forever. /readyz still covers the
  // session load and warm-up that follow.
  const model = await resolveModel(source);
  // A first start converts (and maybe quantises) the checkpoint right here; V8 would keep that garbage until
  // it needed the room: RSS when ready 273 → 181 MB (fp32) and 209 → 153 MB (int8) with one full GC now.
  globalThis.gc?.();
  const handle = await startServer({
    ...listen,
    maxPixels,
    loadClassifier: (observer) => createClassifier({ model, ...classifierOptions, observer }),
  });
  installShutdownHandlers(handle);
  return handle.ready.then(
    () => new Promise<number>(() => undefined),
    async (error: unknown) => {
      await handle.close();
      throw error;
    },
  );
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
    process.stderr.write(`resnet-serve: ${error instanceof Error ? error.message : String(error)}\n\n${USAGE}\n`);
    return 2;
  }
  const { values: flags, positionals } = parsed;
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
  try {
    switch (command) {
      case 'classify': return await classify(flags, rest);
      case 'serve': return await serve(flags);
      case 'convert': return await convert(flags);
      case 'fetch': return await fetchCommand(flags);
      default:
        process.stderr.write(`resnet-serve: unknown command ${JSON.stringify(command)}\n\n${USAGE}\n`);
        return 2;
    }
  } catch (error) {
    if (!isResnetServeError(error)) {
      // A bug, not a user error: say so plainly; the stack only when asked for.
      const detail = process.env.RESNET_SERVE_DEBUG === '1' && error instanceof Error ? error.stack : String(error);
      process.stderr.write(`resnet-serve: unexpected failure: ${detail} [INTERNAL]\n`);
      return 1;
    }
    process.stderr.write(`resnet-serve: ${error.message} [${error.code}]\n`);
    return error.code === 'INVALID_ARGUMENT' ? 2 : 1;
  }
}

process.exitCode = await main(process.argv.slice(2));
