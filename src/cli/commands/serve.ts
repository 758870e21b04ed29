import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { type Classifier, type ClassifierObserver, createClassifier } from '../../classifier/index.js';
import { ResnetServeError } from '../../errors.js';
import { cacheDir } from '../../files/cache-dir.js';
import type { ModelContract } from '../../model/contract.js';
import { readModelContract } from '../../model/read-contract.js';
import { startupLogger } from '../../server/log.js';
import type { RegisteredModel } from '../../server/model-registry.js';
import { SERVER_OPTIONS } from '../../server/options.js';
import { scanModelRepository } from '../../setup/model-repository.js';
import { type ModelSource, resolveModel } from '../../setup/resolve-model.js';
import { defaultWeightsOf } from '../../weights/official-weights.js';
import { restartWithHeapLimit } from '../heap-limit.js';
import { signalExitCode } from '../interrupt.js';
import { SETTINGS, type Settings, stageOptions } from '../settings.js';
import { classifierOptions, downloadedFile, modelSource, type SetupReport } from './shared.js';

/**
 * `resnet-serve serve`: finds (downloads, converts) the model — or every model of `--model-repository` — listens,
 * loads the classifiers in the background, and drains on SIGTERM/SIGINT. Resolves never while serving; rejects when the model fails to load.
 */
export async function run(settings: Settings): Promise<number> {
  const restarted = await restartWithHeapLimit(settings.heapLimitMb);
  if (restarted !== undefined) return restarted;
  // As PID 1 in a container, a signal without a handler is ignored: until the server can drain, SIGTERM stops
  // the command as its default action would anywhere else, so a pod deleted while it converts is not left to
  // the kubelet's SIGKILL at the end of the grace period.
  // Once the session is loading, exiting would abort ONNX Runtime mid-load: a signal then waits for the shutdown
  // handlers, which drain and close it.
  let deferred: NodeJS.Signals | undefined;
  let loadingStarted = false;
  const stopEarly = (signal: NodeJS.Signals): void => {
    if (loadingStarted) deferred ??= signal;
    else process.exit(signalExitCode(signal));
  };
  process.on('SIGTERM', stopEarly).on('SIGINT', stopEarly);
  // Weights are found, downloaded and converted before listening: offline with nothing cached, `serve`
  // exits with the one-paragraph explanation rather than answering 503 forever. /readyz still covers the
  // session loads and warm-ups that follow.
  const plans = await servedModels(settings);
  // A first start converts (and maybe quantises) checkpoints right here; V8 would keep that garbage until
  // it needed the room: RSS when ready 273 → 181 MB (fp32) and 209 → 153 MB (int8) with one full GC now.
  globalThis.gc?.();
  // The first model's session starts loading now, on its own thread, while this one imports and builds the HTTP app:
  // start → ready overlaps the two instead of adding them (measured in docs/deploy.md, "Start-up time").
  const [first] = plans;
  const metrics = relayObserver();
  loadingStarted = true;
  let headStart: Promise<Classifier> | undefined;
  if (first !== undefined && settings.modelLoading === 'startup') {
    headStart = createClassifier({
      ...classifierOptions('serve', settings),
      model: first.model,
      contract: first.contract,
      observer: metrics.observer,
    });
    headStart.catch(() => undefined);
  }
  const { installShutdownHandlers, startServer } = await import('../../server/start.js');
  const models = plans.map(
    (plan, index): RegisteredModel => ({
      name: plan.name,
      model: plan.contract,
      bytes: plan.bytes,
      // The page's on-device mode downloads the very model this server runs, so both give the same answers.
      ...(settings.serverOnly ? {} : { onDevice: { model: plan.model } }),
      // The app's pixel limit and the classifier's are both settings.maxPixels (the app checks they agree). The first
      // load of the first model is the session already loading; every later load (after an unload) is a new one.
      loadClassifier: ({ observer }) => {
        if (index === 0 && headStart !== undefined) {
          const loading = headStart;
          headStart = undefined;
          metrics.connect(observer);
          return loading;
        }
        return createClassifier({ ...classifierOptions('serve', settings), model: plan.model, contract: plan.contract, observer });
      },
    }),
  );
  // --model-name named the one model above (servedModels); the app is given the models by name.
  const { modelName: _named, ...serverSettings } = stageOptions('serve', settings, SERVER_OPTIONS);
  const handle = await startServer({ ...serverSettings, models });
  process.off('SIGTERM', stopEarly).off('SIGINT', stopEarly);
  installShutdownHandlers(handle);
  if (deferred !== undefined) process.emit(deferred, deferred);
  return handle.ready.then(
    () => new Promise<number>(() => undefined),
    async (error: unknown) => {
      await handle.close();
      throw error;
    },
  );
}

/** A model to serve, found, converted and cached. */
interface ServedModelPlan {
  readonly name: string;
  /** The .onnx the classifier runs. */
  readonly model: string;
  readonly contract: ModelContract;
  /** The .onnx file's size, as the memory budget counts it. */
  readonly bytes: number;
}

/**
 * The models `serve` serves: every model of `--model-repository`, each named by its file's stem, or the one model of
 * `--arch`/`--weights`/`--model`, named by `--model-name`, else its architecture (or its `.onnx` file's stem).
 * @throws ResnetServeError INVALID_ARGUMENT when the repository is combined with one model's settings; what finding,
 *   downloading and converting a model throws.
 */
async function servedModels(settings: Settings): Promise<ServedModelPlan[]> {
  const plan = async (name: string | undefined, source: ModelSource): Promise<ServedModelPlan> => {
    const model = await resolveModel(source);
    // What the model is, read once from its file: the classifier, the protocols and the page all describe it so.
    const contract = await readModelContract(model, { cacheDir: settings.home });
    return { name: name ?? contract.name, model, contract, bytes: (await stat(model)).size };
  };
  const dir = settings.modelRepository;
  if (dir === undefined) return [await plan(settings.modelName, modelSource(settings, setupLog(settings)))];
  const oneModel = (['model', 'weights', 'arch', 'weightsUrl', 'modelName'] as const).find((key) => settings[key] !== undefined);
  if (oneModel !== undefined) {
    throw new ResnetServeError(
      'INVALID_ARGUMENT',
      `${SETTINGS[oneModel].flag} names one model; --model-repository serves the models of ${dir}, each named by its file (a <stem>.json beside a state_dict may give its arch and precision).`,
      { details: { parameter: oneModel } },
    );
  }
  const log = startupLogger();
  const plans: ServedModelPlan[] = [];
  for (const entry of await scanModelRepository(dir)) {
    const common = { home: settings.home, onStep: (message: string) => log.info({ model: entry.name }, message) };
    const source: ModelSource =
      entry.kind === 'onnx'
        ? { ...common, model: entry.file }
        : {
            ...common,
            weights: entry.file,
            architecture: entry.arch,
            precision: entry.precision ?? settings.precision,
            calibration: settings.calibration,
          };
    plans.push(await plan(entry.name, source));
  }
  log.info({ repository: dir, models: plans.map((served) => served.name) }, 'model repository');
  return plans;
}

/**
 * A first start's steps as log lines, JSON like the server's own: the download of the weights (where from, where
 * to, and once done its size) and their conversion (where the model is cached). A progress bar would be bare text
 * among them, so there is none.
 */
function setupLog(settings: Settings): SetupReport {
  const log = startupLogger();
  const { architecture, fileName } = downloadedFile(settings);
  const url = settings.weightsUrl ?? defaultWeightsOf(architecture).url;
  const path = join(settings.home ?? cacheDir(), fileName);
  let started = false;
  return {
    onStep: (message) => log.info(message),
    onProgress(progress) {
      if (!started) {
        started = true;
        log.info({ url, path }, 'downloading the weights (once; they are kept in the cache)');
      }
      if (progress.done) log.info({ path, bytes: progress.receivedBytes }, 'weights downloaded');
    },
  };
}

/**
 * An observer that forwards every hook to the app's metrics once the app exists: the classifier is made before the
 * app is. A Proxy, so a hook added to ClassifierObserver is forwarded without being listed here.
 */
function relayObserver(): { observer: ClassifierObserver; connect(target: ClassifierObserver): void } {
  let target: ClassifierObserver = {};
  const observer = new Proxy({} as ClassifierObserver, {
    get:
      (_relay, hook: keyof ClassifierObserver) =>
      (...args: never[]) =>
        (target[hook] as ((...a: never[]) => void) | undefined)?.(...args),
  });
  return {
    observer,
    connect(next) {
      target = next;
    },
  };
}
