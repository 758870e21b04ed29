import { join } from 'node:path';
import { type ClassifierObserver, createClassifier } from '../../classifier/index.js';
import { cacheDir } from '../../files/cache-dir.js';
import { readModelContract } from '../../model/read-contract.js';
import { startupLogger } from '../../server/log.js';
import { SERVER_OPTIONS } from '../../server/options.js';
import { resolveModel } from '../../setup/resolve-model.js';
import { defaultWeightsOf } from '../../weights/official-weights.js';
import { restartWithHeapLimit } from '../heap-limit.js';
import { signalExitCode } from '../interrupt.js';
import { type Settings, stageOptions } from '../settings.js';
import { classifierOptions, downloadedFile, modelSource, type SetupReport } from './shared.js';

/**
 * `resnet-serve serve`: finds (downloads, converts) the model, listens, loads the classifier in the background, and
 * drains on SIGTERM/SIGINT. Resolves never while serving; rejects when the model fails to load.
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
  const source = modelSource(settings, setupLog(settings));
  // Weights are found, downloaded and converted before listening: offline with nothing cached, `serve`
  // exits with the one-paragraph explanation rather than answering 503 forever. /readyz still covers the
  // session load and warm-up that follow.
  const model = await resolveModel(source);
  // What the model is, read once from its file: the classifier, the protocols and the page all describe it so.
  const contract = await readModelContract(model, { cacheDir: settings.home });
  // A first start converts (and maybe quantises) the checkpoint right here; V8 would keep that garbage until
  // it needed the room: RSS when ready 273 → 181 MB (fp32) and 209 → 153 MB (int8) with one full GC now.
  globalThis.gc?.();
  // The session starts loading now, on its own thread, while this one imports and builds the HTTP app: start →
  // ready overlaps the two instead of adding them (measured in docs/deploy.md, "Start-up time").
  const metrics = relayObserver();
  loadingStarted = true;
  const loading = createClassifier({ ...classifierOptions('serve', settings), model, contract, observer: metrics.observer });
  loading.catch(() => undefined);
  const { installShutdownHandlers, startServer } = await import('../../server/start.js');
  const handle = await startServer({
    ...stageOptions('serve', settings, SERVER_OPTIONS),
    // Clients name the model by its architecture (or its file's stem) unless --model-name says otherwise.
    modelName: settings.modelName ?? contract.name,
    model: contract,
    // The page's on-device mode downloads the very model this server runs, so both give the same answers.
    onDevice: settings.serverOnly ? undefined : { model },
    // The app's pixel limit and the classifier's are both settings.maxPixels (the app checks they agree); the
    // app's observer gets the metrics.
    loadClassifier: ({ observer }) => {
      metrics.connect(observer);
      return loading;
    },
  });
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
