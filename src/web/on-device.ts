/**
 * The page's "Run on this device" switch: when on, photos are classified in this browser by the model the
 * server runs (downloaded once from GET /on-device's URL), and no image byte is sent anywhere. The work happens
 * in on-device-worker.ts; this module owns the switch, the progress bar, the status line and the worker.
 */
import type { PreprocessRecipe } from '../image/recipe.js';
import type { MessageKey } from './i18n.js';
import type { OnDeviceProblem } from './on-device-preprocess.js';
import type { FromWorker, ToWorker, WorkerPrediction } from './on-device-protocol.js';

/** GET /on-device (src/server/on-device.ts). */
interface Manifest {
  model: { url: string; bytes: number; precision: string; id: string };
  runtime: string;
  recipe: PreprocessRecipe;
}

export interface OnDeviceUi {
  /** Hidden until the server offers the mode. */
  box: HTMLElement;
  toggle: HTMLInputElement;
  status: HTMLElement;
  progress: HTMLProgressElement;
}

export interface OnDeviceResult {
  predictions: WorkerPrediction[];
  /** With maps (`explain`): the upright image's size, the space the predictions' `crop` is in. */
  image?: { width: number; height: number };
  timings: { decode: number; inference: number; total: number };
  threads: number;
}

type Translate = (key: MessageKey, params?: Record<string, string | number>) => string;

type State =
  | { kind: 'off' }
  | { kind: 'downloading'; loaded: number; total: number }
  | { kind: 'starting' }
  | { kind: 'ready'; threads: number }
  | { kind: 'failed'; problem: OnDeviceProblem };

const STORAGE_KEY = 'resnet-serve.on-device';

/** The sentences of the server's codes where the problem is the same (UNSUPPORTED_MEDIA_TYPE, IMAGE_CORRUPT). */
const PROBLEM_KEYS: Record<OnDeviceProblem, MessageKey> = {
  NO_SIMD: 'onDeviceNoSimd',
  MEMORY: 'onDeviceMemory',
  NOT_IMAGE: 'wrongType',
  UNDECODABLE: 'onDeviceUndecodable',
  CORRUPT: 'corrupt',
  FAILED: 'onDeviceFailed',
};

/** A failure of the mode, with the sentence key the page shows and its parameters. */
export class OnDeviceFailure extends Error {
  readonly key: MessageKey;
  readonly params: Record<string, string>;
  constructor(problem: OnDeviceProblem, message: string, format?: string) {
    super(message);
    this.key = PROBLEM_KEYS[problem];
    this.params = format === undefined ? {} : { format: format.toUpperCase() };
  }
}

function remembered(): boolean {
  try {
    return localStorage.getItem(STORAGE_KEY) === 'on';
  } catch {
    return false; // storage disabled: the switch starts off and is not remembered
  }
}

function remember(on: boolean): void {
  try {
    localStorage.setItem(STORAGE_KEY, on ? 'on' : 'off');
  } catch {
    // Not remembered; the switch still works for this visit.
  }
}

function megabytes(bytes: number): string {
  return `${(bytes / 1024 / 1024).toFixed(1)}\u00a0MB`;
}

export class OnDeviceMode {
  readonly #ui: OnDeviceUi;
  #manifest: Manifest;
  readonly #text: Translate;
  readonly #onSwitch: () => void;
  #state: State = { kind: 'off' };
  #worker: Worker | undefined;
  #ready: Promise<void> | undefined;
  /** The worker's thread count once the model is ready. */
  #threads: number | undefined;
  #nextId = 1;
  readonly #pending = new Map<number, { resolve: (result: OnDeviceResult) => void; reject: (error: Error) => void }>();

  private constructor(ui: OnDeviceUi, manifest: Manifest, text: Translate, onSwitch: () => void) {
    this.#ui = ui;
    this.#manifest = manifest;
    this.#text = text;
    this.#onSwitch = onSwitch;
  }

  /**
   * Shows the switch when the server offers the mode (GET /on-device 200); `undefined` when it does not.
   * @param onSwitch - called whenever the switch is turned on or off, so the page can reword itself.
   */
  static async create(ui: OnDeviceUi, text: Translate, onSwitch: () => void): Promise<OnDeviceMode | undefined> {
    let manifest: Manifest;
    try {
      const response = await fetch('on-device');
      if (!response.ok) return undefined; // 404: the server runs with --server-only
      manifest = (await response.json()) as Manifest;
    } catch {
      return undefined;
    }
    const mode = new OnDeviceMode(ui, manifest, text, onSwitch);
    ui.box.hidden = false;
    ui.toggle.checked = remembered();
    ui.toggle.addEventListener('change', () => {
      remember(ui.toggle.checked);
      if (ui.toggle.checked) void mode.#start().catch(() => undefined);
      else mode.#set({ kind: 'off' });
      mode.#onSwitch();
    });
    if (ui.toggle.checked) void mode.#start().catch(() => undefined);
    mode.render();
    return mode;
  }

  /** The precision of the model this mode downloads (`fp32`, `int8`). */
  get precision(): string {
    return this.#manifest.model.precision;
  }

  /** The id of the model this mode downloads (`resnet50-11ad3fa6`), which names its answers. */
  get modelId(): string {
    return this.#manifest.model.id;
  }

  /**
   * Switches to the model `name` (GET /on-device?model=NAME): a model already downloaded is kept by the browser's
   * cache; the worker is restarted on the new one, and photos being classified on the old one fail.
   */
  async useModel(name: string): Promise<void> {
    const response = await fetch(`on-device?model=${encodeURIComponent(name)}`);
    if (!response.ok) return;
    const manifest = (await response.json()) as Manifest;
    if (manifest.model.url === this.#manifest.model.url) return;
    this.#manifest = manifest;
    this.#worker?.terminate();
    for (const pending of this.#pending.values()) pending.reject(new OnDeviceFailure('FAILED', 'the model was changed'));
    this.#pending.clear();
    this.#worker = undefined;
    this.#ready = undefined;
    this.#threads = undefined;
    if (this.enabled) void this.#start().catch(() => undefined);
    else this.#set({ kind: 'off' });
  }

  /** Whether photos are to be classified here. */
  get enabled(): boolean {
    return this.#ui.toggle.checked;
  }

  /**
   * Classifies `image` in this browser: waits for the model (downloading it the first time), then decodes,
   * preprocesses and runs it in the worker; with `explain`, also where it looked, as /predict?explain=true does.
   * @throws OnDeviceFailure with the message key to show.
   */
  async classify(image: Blob, topK: number, explain: boolean): Promise<OnDeviceResult> {
    await this.#start();
    const worker = this.#worker!;
    const id = this.#nextId++;
    return new Promise((resolve, reject) => {
      this.#pending.set(id, { resolve, reject });
      worker.postMessage({ type: 'classify', id, image, topK, explain } satisfies ToWorker);
    });
  }

  /** Redraws the status line in the current language. */
  render(): void {
    const { status, progress } = this.#ui;
    const state = this.#state;
    progress.hidden = state.kind !== 'downloading';
    if (state.kind === 'downloading') {
      progress.max = state.total;
      progress.value = state.loaded;
    }
    const { bytes, precision } = this.#manifest.model;
    switch (state.kind) {
      case 'off':
        status.textContent = this.#text('onDeviceOffer', { size: megabytes(bytes) });
        break;
      case 'downloading':
        status.textContent = this.#text('onDeviceDownloading', { loaded: megabytes(state.loaded), total: megabytes(state.total) });
        break;
      case 'starting':
        status.textContent = this.#text('onDeviceStarting');
        break;
      case 'ready':
        status.textContent = this.#text('onDeviceReady', { size: megabytes(bytes), precision, threads: state.threads });
        break;
      case 'failed':
        status.textContent = this.#text(PROBLEM_KEYS[state.problem]);
        break;
    }
  }

  #set(state: State): void {
    this.#state = state;
    this.render();
  }

  /** Starts the worker and loads the model once; a failed start is retried by the next call. */
  #start(): Promise<void> {
    if (this.#ready !== undefined) {
      // Switched off and on again: the worker kept the model.
      if (this.#threads !== undefined) this.#set({ kind: 'ready', threads: this.#threads });
      return this.#ready;
    }
    const worker = new Worker(new URL('on-device-worker.js', document.baseURI), { type: 'module', name: 'on-device' });
    this.#worker = worker;
    const base = document.baseURI;
    this.#ready = new Promise<void>((resolve, reject) => {
      worker.onmessage = (event: MessageEvent<FromWorker>) => this.#receive(event.data, resolve, reject);
      worker.onerror = () => reject(new OnDeviceFailure('FAILED', 'the on-device worker failed to start'));
    });
    this.#ready.catch(() => {
      this.#ready = undefined;
      this.#worker = undefined;
      worker.terminate();
    });
    const { url, bytes } = this.#manifest.model;
    worker.postMessage({
      type: 'load',
      modelUrl: new URL(url, base).href,
      modelBytes: bytes,
      runtimeUrl: new URL(this.#manifest.runtime, base).href,
      kernelUrl: new URL('resample.wasm', base).href,
      recipe: this.#manifest.recipe,
    } satisfies ToWorker);
    this.#set({ kind: 'downloading', loaded: 0, total: bytes });
    return this.#ready;
  }

  #receive(message: FromWorker, resolve: () => void, reject: (error: Error) => void): void {
    switch (message.type) {
      case 'progress':
        this.#set({ kind: 'downloading', loaded: message.loaded, total: message.total });
        return;
      case 'starting':
        this.#set({ kind: 'starting' });
        return;
      case 'ready':
        this.#threads = message.threads;
        this.#set({ kind: 'ready', threads: message.threads });
        resolve();
        return;
      case 'result': {
        const { predictions, image, timings, threads } = message;
        this.#pending.get(message.id)?.resolve({ predictions, image, timings, threads });
        this.#pending.delete(message.id);
        return;
      }
      case 'error': {
        const failure = new OnDeviceFailure(message.problem, message.message, message.format);
        if (message.id === -1) {
          this.#set({ kind: 'failed', problem: message.problem });
          reject(failure);
          return;
        }
        this.#pending.get(message.id)?.reject(failure);
        this.#pending.delete(message.id);
      }
    }
  }
}
