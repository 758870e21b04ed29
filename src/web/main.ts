import { CamOverlay } from './cam-overlay.js';
import { choiceList, formatBytes, initialLang, type Lang, type MessageKey, t } from './i18n.js';
import { OnDeviceFailure, OnDeviceMode } from './on-device.js';
import { ON_DEVICE_FORMATS } from './on-device-preprocess.js';
import { sniffFile } from './sniff-file.js';

interface Prediction {
  index: number;
  label: string;
  label_zh: string;
  probability: number;
}

interface PredictResponse {
  predictions: Prediction[];
  /** With explain=true: the maps (per prediction `cam` and `crop`) read by cam-overlay.ts. */
  image?: { width: number; height: number };
  model: string;
  precision: string;
  timings_ms: { decode: number; inference: number; total: number };
}

interface PublicModel {
  id: string;
  precision: string;
  explain: { available: boolean };
}

interface PageConfig {
  maxUploadBytes: number;
  topK: number;
  /** The default model (GET /config): whether it can show where it looked. Absent until it is known. */
  model?: PublicModel;
  /** Every model served; with more than one, the page offers a picker. */
  models?: { name: string; bytes?: number; top1?: number; model?: PublicModel }[];
  defaultModel?: string;
}

/** What the page last showed, so a language switch can redraw it without a new request. */
type View =
  | { kind: 'empty' }
  | { kind: 'busy' }
  | { kind: 'result'; response: PredictResponse; roundTripMs: number; onDevice?: { threads: number } }
  | { kind: 'error'; key: MessageKey; params: Record<string, string | number> };

const LANG_KEY = 'resnet-serve.lang';
const MODEL_KEY = 'resnet-serve.model';
/** The server's defaults (src/server/options.ts), put in by scripts/build-web.mjs. */
declare const __DEFAULT_CONFIG__: PageConfig;
/** Used until GET /config answers (and if it cannot): the server's own defaults. */
const FALLBACK_CONFIG: PageConfig = __DEFAULT_CONFIG__;
/** The names of the formats the server decodes (DECODABLE, src/image/formats.ts), put in by scripts/build-web.mjs. */
declare const __IMAGE_FORMATS__: readonly string[];

function element<T extends HTMLElement>(id: string): T {
  const found = document.getElementById(id);
  if (found === null) throw new Error(`index.html lacks #${id}`);
  return found as T;
}

const ui = {
  dropZone: element<HTMLDivElement>('drop-zone'),
  fileInput: element<HTMLInputElement>('file-input'),
  cameraInput: element<HTMLInputElement>('camera-input'),
  langToggle: element<HTMLButtonElement>('lang-toggle'),
  error: element<HTMLParagraphElement>('error'),
  result: element<HTMLElement>('result'),
  preview: element<HTMLImageElement>('preview'),
  status: element<HTMLParagraphElement>('status'),
  heading: element<HTMLHeadingElement>('results-heading'),
  predictions: element<HTMLOListElement>('predictions'),
  latency: element<HTMLParagraphElement>('latency'),
  answeredBy: element<HTMLParagraphElement>('answered-by'),
  modelPicker: element<HTMLLabelElement>('model-picker'),
  modelSelect: element<HTMLSelectElement>('model-select'),
};

const cam = new CamOverlay(ui.preview, ui.predictions);

let lang: Lang = initialLang(readStored(LANG_KEY), navigator.language);
let config: PageConfig = FALLBACK_CONFIG;
let view: View = { kind: 'empty' };
let inFlight: AbortController | undefined;
/** The "Run on this device" switch, once GET /on-device says the server offers it. */
let onDevice: OnDeviceMode | undefined;
/** The model picked, when the server serves several (undefined: the server's default). */
let picked: string | undefined;

function readStored(key: string): string | null {
  try {
    return localStorage.getItem(key);
  } catch {
    return null; // storage disabled (private mode, file://): fall back to the default
  }
}

function store(key: string, value: string): void {
  try {
    localStorage.setItem(key, value);
  } catch {
    // Not remembered; the page still switches.
  }
}

function setLang(next: Lang): void {
  lang = next;
  store(LANG_KEY, next);
  applyLang();
}

function applyLang(): void {
  document.documentElement.lang = lang === 'zh' ? 'zh-CN' : 'en';
  document.title = `${t(lang, 'title')} · resnet-serve`;
  // `data-i18n-on-device`: the wording while photos stay in this browser (no server, no upload limit).
  const here = onDevice?.enabled === true;
  for (const node of document.querySelectorAll<HTMLElement>('[data-i18n]')) {
    const key = (here ? (node.dataset.i18nOnDevice ?? node.dataset.i18n) : node.dataset.i18n) as MessageKey;
    node.textContent = t(lang, key, {
      max: formatBytes(config.maxUploadBytes),
      formats: choiceList(lang, here ? ON_DEVICE_FORMATS : __IMAGE_FORMATS__),
    });
  }
  ui.preview.alt = t(lang, 'previewAlt');
  ui.langToggle.textContent = t(lang, 'toggle');
  ui.langToggle.lang = lang === 'zh' ? 'en' : 'zh';
  ui.langToggle.setAttribute('aria-label', t(lang, 'toggleLabel'));
  renderModelPicker();
  onDevice?.render();
  render();
}

function render(): void {
  // The card is the photo being classified or its answer: a refused file leaves none behind.
  ui.result.hidden = view.kind === 'empty' || view.kind === 'error';
  ui.error.hidden = view.kind !== 'error';
  ui.error.textContent = view.kind === 'error' ? t(lang, view.key, { formats: choiceList(lang, __IMAGE_FORMATS__), ...view.params }) : '';
  ui.result.setAttribute('aria-busy', String(view.kind === 'busy'));
  ui.status.textContent = view.kind === 'busy' ? t(lang, 'analysing') : '';
  ui.predictions.replaceChildren();
  ui.heading.hidden = view.kind !== 'result';
  ui.latency.textContent = '';
  ui.answeredBy.textContent = '';
  if (view.kind !== 'result') {
    cam.show(undefined, [], lang);
    return;
  }

  const { response, roundTripMs } = view;
  ui.heading.textContent = t(lang, 'resultsHeading', { k: response.predictions.length });
  for (const prediction of response.predictions) ui.predictions.append(predictionItem(prediction));
  cam.show(response, [...ui.predictions.children] as HTMLElement[], lang);
  ui.answeredBy.textContent = t(lang, 'answeredBy', { model: response.model, precision: response.precision });
  const { decode, inference, total } = response.timings_ms;
  if (view.onDevice !== undefined) {
    const { threads } = view.onDevice;
    ui.latency.textContent = t(lang, 'latencyOnDevice', {
      total: Math.round(total),
      decode: Math.round(decode),
      inference: Math.round(inference),
      threads,
    });
    return;
  }
  ui.latency.textContent = t(lang, 'latency', {
    total: Math.round(total),
    decode: Math.round(decode),
    inference: Math.round(inference),
    roundTrip: Math.round(roundTripMs),
  });
}

function predictionItem(prediction: Prediction): HTMLLIElement {
  const percent = prediction.probability * 100;
  const shown = `${percent < 0.1 ? '<0.1' : percent.toFixed(1)}%`;
  const item = document.createElement('li');
  item.className = 'prediction';

  const name = document.createElement('span');
  name.className = 'label';
  name.textContent = lang === 'zh' ? prediction.label_zh : prediction.label;
  const other = document.createElement('span');
  other.className = 'label-other';
  other.lang = lang === 'zh' ? 'en' : 'zh-CN';
  other.textContent = lang === 'zh' ? prediction.label : prediction.label_zh;
  const value = document.createElement('span');
  value.className = 'percent';
  value.textContent = shown;

  const bar = document.createElement('div');
  bar.className = 'bar';
  bar.setAttribute('role', 'meter');
  bar.setAttribute('aria-valuemin', '0');
  bar.setAttribute('aria-valuemax', '100');
  bar.setAttribute('aria-valuenow', percent.toFixed(1));
  bar.setAttribute('aria-valuetext', shown);
  bar.setAttribute('aria-label', name.textContent);
  const fill = document.createElement('div');
  fill.className = 'bar-fill';
  fill.style.width = `${Math.max(percent, 0.5)}%`;
  bar.append(fill);

  item.append(name, value, other, bar);
  return item;
}

function show(next: View): void {
  view = next;
  render();
  if (next.kind === 'result' || next.kind === 'error') revealAnswer();
}

/** How long a new answer's card is followed as it grows (its photo loads, the map's toggle and caption appear). */
const SETTLE_MS = 2000;
let following: ResizeObserver | undefined;

/**
 * Brings a new answer into view: on a phone (and a short desktop window) the card starts below the drop zone, so
 * the guesses would land at or under the bottom edge. The whole card when it fits, else its top. The card keeps
 * growing after the answer is drawn — the photo decodes, then the map's toggle and caption appear in the photo's
 * load handler, in no fixed order with this call — so it is followed by its size for a moment, not measured once.
 */
function revealAnswer(): void {
  const target = view.kind === 'error' ? ui.error : ui.result;
  following?.disconnect();
  const observer = new ResizeObserver(() => scrollIntoSight(target));
  following = observer;
  observer.observe(target);
  setTimeout(() => observer.disconnect(), SETTLE_MS);
}

function scrollIntoSight(target: HTMLElement): void {
  const box = target.getBoundingClientRect();
  if (box.top >= 0 && box.bottom <= window.innerHeight) return;
  const smooth = !window.matchMedia('(prefers-reduced-motion: reduce)').matches;
  target.scrollIntoView({ block: box.height <= window.innerHeight ? 'nearest' : 'start', behavior: smooth ? 'smooth' : 'auto' });
}

/**
 * Checks in the browser what the server would refuse anyway, judged as the server judges (the bytes, never the
 * name or declared type), so the user is not made to wait for an upload, and on this device gets the same words.
 */
async function precheck(file: File, here: boolean): Promise<View | undefined> {
  if (file.size === 0) return { kind: 'error', key: 'empty', params: {} };
  if ((await sniffFile(file)) === undefined) return { kind: 'error', key: 'wrongType', params: {} };
  // On this device the upload limit does not apply: nothing is uploaded.
  if (!here && file.size > config.maxUploadBytes) {
    return { kind: 'error', key: 'tooLarge', params: { size: formatBytes(file.size), max: formatBytes(config.maxUploadBytes) } };
  }
  return undefined;
}

function showPreview(file: File): void {
  const url = URL.createObjectURL(file);
  const release = (): void => URL.revokeObjectURL(url);
  ui.preview.addEventListener('load', release, { once: true });
  ui.preview.addEventListener('error', release, { once: true });
  ui.preview.src = url;
}

async function classify(file: File): Promise<void> {
  inFlight?.abort();
  const controller = new AbortController();
  inFlight = controller;
  const here = onDevice?.enabled === true;
  const problem = await precheck(file, here);
  if (controller.signal.aborted) return; // another photo was chosen while this one was read
  if (problem !== undefined) {
    inFlight = undefined;
    show(problem);
    return;
  }
  showPreview(file);
  show({ kind: 'busy' });
  if (here && onDevice !== undefined) return classifyOnDevice(onDevice, file, controller);
  const body = new FormData();
  body.append('file', file, file.name === '' ? 'pasted-image' : file.name);
  const started = performance.now();
  try {
    // Maps cost no measurable time (bench/explain.mjs), so they are always asked for and the toggle is instant.
    const explain = cam.available ? '&explain=true' : '';
    const model = picked === undefined ? '' : `&model=${encodeURIComponent(picked)}`;
    const response = await fetch(`predict?top=${config.topK}&lang=${lang}${explain}${model}`, {
      method: 'POST',
      body,
      signal: controller.signal,
    });
    const payload: unknown = await response.json().catch(() => undefined);
    if (controller.signal.aborted) return;
    if (response.ok) {
      show({ kind: 'result', response: payload as PredictResponse, roundTripMs: performance.now() - started });
    } else if (explain !== '' && codeOf(payload) === 'EXPLAIN_UNAVAILABLE') {
      // A --model without the features output: classify without maps, and stop asking.
      cam.markUnavailable();
      void classify(file);
    } else {
      show(errorView(response, payload, file));
    }
  } catch (error) {
    if (controller.signal.aborted) return; // replaced by a newer photo
    show({ kind: 'error', key: 'network', params: {} });
    console.error(error);
  } finally {
    if (inFlight === controller) inFlight = undefined;
  }
}

function codeOf(payload: unknown): string | undefined {
  return typeof payload === 'object' && payload !== null && 'code' in payload ? String(payload.code) : undefined;
}

/** Maps the server's stable `code` (never its text) to a sentence in the page's language. */
function errorView(response: Response, payload: unknown, file: File): View {
  const code = codeOf(payload) ?? `HTTP ${response.status}`;
  const error = (key: MessageKey, params: Record<string, string | number> = {}): View => ({ kind: 'error', key, params });
  switch (code) {
    case 'UNSUPPORTED_MEDIA_TYPE':
      return error('wrongType');
    case 'FILE_TOO_LARGE':
      return error('tooLarge', { size: formatBytes(file.size), max: formatBytes(config.maxUploadBytes) });
    case 'IMAGE_TOO_LARGE':
      return error('tooManyPixels');
    case 'FILE_EMPTY':
      return error('empty');
    case 'IMAGE_CORRUPT':
      return error('corrupt');
    case 'NOT_READY':
      return error('notReady');
    case 'QUEUE_FULL':
    case 'TIMEOUT':
      return error('busy', { seconds: Number(response.headers.get('retry-after') ?? '1') || 1 });
    default:
      return error('failed', { code });
  }
}

function firstImage(files: FileList | null | undefined): File | undefined {
  return files?.[0] ?? undefined;
}

function wireEvents(): void {
  const choose = (): void => ui.fileInput.click();
  ui.dropZone.addEventListener('click', choose);
  // Like a native <button>: Enter activates on keydown, Space on keyup (its keydown would scroll the page).
  ui.dropZone.addEventListener('keydown', (event) => {
    if (event.key === 'Enter' || event.key === ' ') event.preventDefault();
    if (event.key === 'Enter' && !event.repeat) choose();
  });
  ui.dropZone.addEventListener('keyup', (event) => {
    if (event.key === ' ') {
      event.preventDefault();
      choose();
    }
  });
  for (const input of [ui.fileInput, ui.cameraInput]) {
    input.addEventListener('change', () => {
      const file = firstImage(input.files);
      input.value = ''; // choosing the same file again must fire `change` again
      if (file !== undefined) void classify(file);
    });
  }
  ui.dropZone.addEventListener('dragenter', (event) => {
    event.preventDefault();
    ui.dropZone.classList.add('dragging');
  });
  ui.dropZone.addEventListener('dragover', (event) => {
    event.preventDefault();
    if (event.dataTransfer !== null) event.dataTransfer.dropEffect = 'copy';
  });
  ui.dropZone.addEventListener('dragleave', () => ui.dropZone.classList.remove('dragging'));
  ui.dropZone.addEventListener('drop', (event) => {
    event.preventDefault();
    ui.dropZone.classList.remove('dragging');
    const file = firstImage(event.dataTransfer?.files);
    if (file !== undefined) void classify(file);
  });
  // A file dropped next to the zone would otherwise make the browser navigate away to it.
  window.addEventListener('dragover', (event) => event.preventDefault());
  window.addEventListener('drop', (event) => event.preventDefault());
  document.addEventListener('paste', (event) => {
    const file = firstImage(event.clipboardData?.files);
    if (file !== undefined) {
      event.preventDefault();
      void classify(file);
    }
  });
  ui.langToggle.addEventListener('click', () => setLang(lang === 'zh' ? 'en' : 'zh'));
  ui.modelSelect.addEventListener('change', () => {
    store(MODEL_KEY, ui.modelSelect.value);
    pick(ui.modelSelect.value);
  });
}

/** The same result view, computed in this browser (on-device.ts); no byte of the photo leaves it. */
async function classifyOnDevice(mode: OnDeviceMode, file: File, controller: AbortController): Promise<void> {
  try {
    // Maps always asked for, so the toggle is instant: fetching `features` too cost nothing measurable in Chromium
    // (inference median 1087 ms with it, 1089 ms without; fp32, 18 photos each, 2 shared AMD EPYC cores at load 19).
    const result = await mode.classify(file, config.topK, true);
    if (controller.signal.aborted) return;
    const { predictions, image, timings } = result;
    const response = { predictions, image, model: mode.modelId, precision: mode.precision, timings_ms: timings };
    show({ kind: 'result', response, roundTripMs: timings.total, onDevice: { threads: result.threads } });
  } catch (error) {
    if (controller.signal.aborted) return;
    if (error instanceof OnDeviceFailure) show({ kind: 'error', key: error.key, params: error.params });
    else show({ kind: 'error', key: 'failed', params: { code: 'ON_DEVICE' } });
    // A photo this browser cannot read is the user's to fix, not a fault of the page.
    if (!(error instanceof OnDeviceFailure) || error.key === 'onDeviceFailed') console.error(error);
  } finally {
    if (inFlight === controller) inFlight = undefined;
  }
}

/** The picker's options, in the page's language: name, the card's top-1 when the weights are TorchVision's, size. */
function renderModelPicker(): void {
  const models = config.models ?? [];
  ui.modelPicker.hidden = models.length < 2;
  if (models.length < 2) return;
  ui.modelSelect.replaceChildren(
    ...models.map((model) => {
      const option = document.createElement('option');
      option.value = model.name;
      const size = model.bytes === undefined ? '' : formatBytes(model.bytes);
      option.textContent =
        model.top1 === undefined
          ? t(lang, 'modelOptionNoCard', { name: model.name, size })
          : t(lang, 'modelOption', { name: model.name, top1: model.top1.toFixed(1), size });
      option.selected = model.name === picked;
      return option;
    }),
  );
}

/** Answers come from `name` from now on; the maps and the on-device mode follow it. */
function pick(name: string): void {
  picked = name;
  const model = config.models?.find((m) => m.name === name)?.model;
  cam.markAvailable(model?.explain.available !== false);
  void onDevice?.useModel(name);
  renderModelPicker();
}

async function loadConfig(): Promise<void> {
  try {
    const response = await fetch('config');
    if (response.ok) config = { ...FALLBACK_CONFIG, ...((await response.json()) as Partial<PageConfig>) };
    // A model whose head is not average-pool → linear (ConvNeXt, MobileNetV3): say so, and never ask for maps.
    if (config.model?.explain.available === false) cam.markUnavailable();
    const models = config.models ?? [];
    if (models.length > 1) {
      const stored = readStored(MODEL_KEY);
      pick(models.some((m) => m.name === stored) ? (stored ?? '') : (config.defaultModel ?? models[0]?.name ?? ''));
    }
  } catch {
    // Keep the defaults; the server enforces its limits regardless.
  }
  applyLang();
}

wireEvents();
applyLang();
void loadConfig();
void OnDeviceMode.create(
  {
    box: element<HTMLDivElement>('on-device'),
    toggle: element<HTMLInputElement>('on-device-toggle'),
    status: element<HTMLParagraphElement>('on-device-status'),
    progress: element<HTMLProgressElement>('on-device-progress'),
  },
  (key, params) => t(lang, key, params),
  applyLang,
).then((mode) => {
  onDevice = mode;
  // The picker may have chosen before the mode existed.
  if (picked !== undefined) void mode?.useModel(picked);
  applyLang(); // a remembered switch starts on: word the page for it
});
