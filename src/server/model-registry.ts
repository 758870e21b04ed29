import type { Classifier, ClassifierObserver } from '../classifier/index.js';
import { notReady, ResnetServeError } from '../errors.js';
import type { ModelContract } from '../model/contract.js';
import { type ClassifierLoader, ClassifierSlot, type Readiness } from './classifier-slot.js';
import type { OnDeviceModel } from './on-device.js';

/** One model a server can serve: how to load it, and what it is before it is loaded. */
export interface RegisteredModel {
  /** The name clients use: URLs of every protocol, `/predict?model=`, the repository index. */
  readonly name: string;
  /** Called for each load (the first, and every reload after an unload): a new classifier each time. */
  readonly loadClassifier: ClassifierLoader;
  /** What it is (`readModelContract(path)`), so it is described before it loads; default: learnt when it loads. */
  readonly model?: ModelContract;
  /** What it counts against the memory budget while loaded: its ONNX file's size, in bytes. Default 0. */
  readonly bytes?: number;
  /** The file the page's on-device mode downloads for it; without it the mode is off for this model. */
  readonly onDevice?: OnDeviceModel;
}

/** When the models load: all at start (`startup`), or each on its first request (`first-use`). */
export const MODEL_LOADING = ['startup', 'first-use'] as const;
export type ModelLoading = (typeof MODEL_LOADING)[number];

export interface RegistryOptions {
  /** The hooks that feed /metrics; each model's queue depth is summed into the one gauge. */
  readonly observer: ClassifierObserver;
  /** The app's pixel limit, which every classifier must enforce (the slot checks). */
  readonly maxPixels: number;
  /** The model of requests that name none. Default: the first. */
  readonly defaultModel?: string;
  /**
   * Bytes of models ({@link RegisteredModel.bytes}) loaded at once; loading one more unloads the least recently used
   * idle ones first. 0: no budget.
   */
  readonly memoryBudgetBytes: number;
  readonly loading: ModelLoading;
  /** Longest a request waits for its model to load on demand (first use, or after the budget unloaded it), in ms. */
  readonly loadWaitMs: number;
  /** Told of each load and unload, for the log. */
  readonly onEvent?: (event: RegistryEvent) => void;
}

export type RegistryEvent =
  | { readonly kind: 'loaded'; readonly model: string; readonly id: string }
  | { readonly kind: 'load-failed'; readonly model: string; readonly error: unknown }
  | { readonly kind: 'unloaded'; readonly model: string; readonly reason: UnloadReason };

/** Why a model is not loaded: the repository extension's index says so. */
export type UnloadReason = 'unloaded' | 'memory budget' | 'not loaded yet';

/** The repository extension's model states (Triton's ModelReadyState names). */
export type ModelState = 'READY' | 'LOADING' | 'UNLOADING' | 'UNAVAILABLE';

/** One row of `POST /v2/repository/index`. */
export interface IndexEntry {
  readonly name: string;
  readonly version?: string;
  readonly state: ModelState;
  readonly reason: string;
}

/** What the registry tells /metrics about the models. */
export interface RegistryGauges {
  loaded(name: string, loaded: boolean): void;
  loadedBytes(bytes: number): void;
  unloaded(name: string, reason: UnloadReason): void;
}

/** How a model came to be loading: requests wait only for a load they started themselves. */
type LoadKind = 'startup' | 'demand' | 'explicit';

class Entry {
  readonly model: RegisteredModel;
  slot: ClassifierSlot | undefined;
  loadKind: LoadKind = 'startup';
  /** Requests using the loaded classifier now: an unload closes it only once they finished. */
  leases = 0;
  lastUsed = 0;
  /** Set once shutting the slot down began; resolves when it is closed. */
  unloading: Promise<void> | undefined;
  /** Why it is not loaded, when it is not. */
  reason: UnloadReason = 'not loaded yet';
  /** The contract of the last classifier loaded, when the model was registered without one. */
  learnt: ModelContract | undefined;
  depth = 0;

  constructor(model: RegisteredModel) {
    this.model = model;
  }

  get contract(): ModelContract | undefined {
    return this.model.model ?? this.learnt;
  }

  get bytes(): number {
    return this.model.bytes ?? 0;
  }

  /** Counts against the budget: from the start of its load until its classifier closed. */
  get resident(): boolean {
    return this.slot !== undefined;
  }
}

/**
 * The models one server serves, by name: each has its own classifier (its own session and queue), loaded at start
 * or on first use, unloaded on request (the Open Inference Protocol's repository extension) or to keep within the
 * memory budget, least recently used first. A model is never unloaded under a request using it: the unload waits
 * for its leases. One model's load runs beside the others' requests (sessions load on their own threads).
 */
export class ModelRegistry {
  readonly #entries = new Map<string, Entry>();
  readonly #options: RegistryOptions;
  readonly #gauges: RegistryGauges;
  readonly defaultName: string;
  #closing = false;
  #startup: Promise<void> | undefined;
  #startupFailed: unknown;
  /** Woken when a lease ends or a model unloads: a load waiting for room looks again. */
  readonly #roomWaiters = new Set<() => void>();
  /** Loads being admitted or running, per model, shared by the requests that wait for them. */
  readonly #pending = new Map<Entry, Promise<Classifier>>();
  #admission: Promise<void> = Promise.resolve();
  #clock = 0;

  constructor(models: readonly RegisteredModel[], options: RegistryOptions, gauges: RegistryGauges) {
    if (models.length === 0) throw new ResnetServeError('INVALID_ARGUMENT', 'A server needs at least one model.');
    for (const model of models) {
      if (this.#entries.has(model.name)) {
        throw new ResnetServeError('INVALID_ARGUMENT', `Two models are named "${model.name}": each model needs a name of its own.`, {
          details: { parameter: 'models', model: model.name },
        });
      }
      if (options.memoryBudgetBytes > 0 && (model.bytes ?? 0) > options.memoryBudgetBytes) {
        throw new ResnetServeError(
          'INVALID_ARGUMENT',
          `The model "${model.name}" (${mb(model.bytes ?? 0)}) does not fit the memory budget of ${mb(options.memoryBudgetBytes)}: raise --model-memory-budget.`,
          { details: { parameter: 'memoryBudget', model: model.name } },
        );
      }
      this.#entries.set(model.name, new Entry(model));
    }
    this.#options = options;
    this.#gauges = gauges;
    const first = models[0]?.name ?? '';
    this.defaultName = options.defaultModel ?? first;
    if (!this.#entries.has(this.defaultName)) {
      throw new ResnetServeError(
        'INVALID_ARGUMENT',
        `The default model "${this.defaultName}" is not one of the models served (${this.names.join(', ')}).`,
        { details: { parameter: 'defaultModel' } },
      );
    }
  }

  /**
   * The longest request timeout of the loaded classifiers (each a classifier's `requestTimeoutMs`), or `fallback`
   * when none has loaded: how long an admitted request can still wait, for the shutdown's drain and gRPC's bounds.
   */
  requestTimeoutMs(fallback: number): number {
    const timeouts = [...this.#entries.values()].flatMap((entry) => entry.slot?.limits?.requestTimeoutMs ?? []);
    return timeouts.length === 0 ? fallback : Math.max(...timeouts);
  }

  /** Whether shutdown began. */
  get closing(): boolean {
    return this.#closing;
  }

  /** Every model's name, in the order given (the repository's: sorted by file name). */
  get names(): string[] {
    return [...this.#entries.keys()];
  }

  get models(): RegisteredModel[] {
    return [...this.#entries.values()].map((entry) => entry.model);
  }

  /** The contract of `name` (default: the default model), when known. @throws MODEL_NOT_FOUND */
  contract(name?: string): ModelContract | undefined {
    return this.#entry(name).contract;
  }

  /** The slot of `name` now (default: the default model); undefined while it is not loaded. @throws MODEL_NOT_FOUND */
  slot(name?: string): ClassifierSlot | undefined {
    return this.#entry(name).slot;
  }

  /**
   * Checks that `name` is served (and, when given, its version: the contract's), as every protocol's model routes do.
   * @throws ResnetServeError MODEL_NOT_FOUND for another model or version.
   */
  check(name: string, version?: string): void {
    const entry = this.#entry(name);
    const served = entry.contract?.version;
    if (version !== undefined && version !== '' && served !== undefined && version !== served) {
      throw new ResnetServeError('MODEL_NOT_FOUND', { model: name, version, servedVersion: served }, { details: { model: name, version } });
    }
  }

  /**
   * Loads the models at start (with `startup` loading): in order while they fit the budget; those that do not
   * wait for their first request. Resolves once all have loaded; rejects with the first failure (as Triton exits
   * when a model fails to load at start), the others still loading then closing at shutdown.
   */
  start(): Promise<void> {
    if (this.#startup !== undefined) return this.#startup;
    const loads: Promise<Classifier>[] = [];
    if (this.#options.loading === 'startup') {
      let planned = 0;
      for (const entry of this.#entries.values()) {
        const budget = this.#options.memoryBudgetBytes;
        if (budget > 0 && planned + entry.bytes > budget) continue;
        planned += entry.bytes;
        loads.push(this.#load(entry, 'startup'));
      }
    }
    this.#startup = Promise.all(loads).then(() => undefined);
    this.#startup.catch((error: unknown) => {
      this.#startupFailed = error;
    });
    return this.#startup;
  }

  /** Server readiness: every model loaded at start has loaded, and shutdown has not begun. */
  readiness(): Readiness {
    if (this.#closing) return { ready: false, reason: notReady('The server is shutting down.') };
    if (this.#startupFailed !== undefined) return { ready: false, reason: notReady('A model failed to load; see the server log.') };
    for (const entry of this.#entries.values()) {
      // Only a start-up load still running: a model unloaded since (on request, or for room) leaves readiness alone.
      const state = entry.unloading === undefined ? entry.slot?.state : undefined;
      if (entry.loadKind === 'startup' && (state === 'loading' || state === 'idle')) {
        return { ready: false, reason: notReady(`The model "${entry.model.name}" is still loading; retry shortly.`) };
      }
    }
    if (this.#startup === undefined && this.#options.loading === 'startup') {
      return { ready: false, reason: notReady('The models are still loading; retry shortly.') };
    }
    return { ready: true };
  }

  /**
   * Whether `name` answers requests now (loaded and ready), and if not, why. A model that loads on demand is "ready"
   * for a request as long as it can be loaded: it is not, until then, for the protocols' model-ready checks.
   * @throws MODEL_NOT_FOUND
   */
  modelReadiness(name: string): Readiness {
    const entry = this.#entry(name);
    if (this.#closing) return { ready: false, reason: notReady('The server is shutting down.') };
    if (entry.slot === undefined) return { ready: false, reason: notReady(unloadedMessage(entry)) };
    if (entry.unloading !== undefined) return { ready: false, reason: notReady(`The model "${name}" is being unloaded.`) };
    return entry.slot.readiness();
  }

  /**
   * Runs `use` with `name`'s classifier (default: the default model), which stays loaded until `use` settles. A model
   * the budget unloaded, or one that loads on first use, is loaded first (the wait bounded by `loadWaitMs`); a
   * model unloaded on request, loading at start or failed is NOT_READY at once.
   *
   * @throws ResnetServeError MODEL_NOT_FOUND, NOT_READY; what `use` throws.
   */
  async use<T>(name: string | undefined, use: (classifier: Classifier) => Promise<T>): Promise<T> {
    const entry = this.#entry(name);
    const deadline = Date.now() + this.#options.loadWaitMs;
    for (;;) {
      if (this.#closing) throw notReady('The server is shutting down.');
      const slot = entry.slot;
      if (slot !== undefined && entry.unloading === undefined) {
        if (slot.state === 'ready') {
          const classifier = slot.current();
          entry.leases += 1;
          entry.lastUsed = ++this.#clock;
          try {
            return await use(classifier);
          } finally {
            entry.leases -= 1;
            this.#wakeRoomWaiters();
          }
        }
        // Failed, or loading at start or on request: refused at once, as a single model's server does. Only a load
        // on demand is waited for.
        if (entry.loadKind !== 'demand' || (slot.state !== 'loading' && slot.state !== 'idle')) refuse(slot.readiness());
        await this.#within(deadline, slot.load(), name);
        continue;
      }
      if (entry.unloading !== undefined) {
        await this.#within(deadline, entry.unloading, name);
        continue;
      }
      if (entry.reason === 'unloaded') throw notReady(unloadedMessage(entry));
      // Past the deadline while still waiting for room, say so (the room wait has the same deadline, and loses the race).
      await this.#within(deadline, this.#load(entry, 'demand', deadline), name, () =>
        entry.slot === undefined ? this.#noRoom(entry) : notReady(`The model "${entry.model.name}" did not load in time; retry shortly.`),
      );
    }
  }

  /** The repository index: every model, its version when known, its state and why. */
  index(readyOnly = false): IndexEntry[] {
    const rows: IndexEntry[] = [];
    for (const entry of this.#entries.values()) {
      const version = entry.contract?.version;
      const row = (state: ModelState, reason: string): IndexEntry => ({
        name: entry.model.name,
        ...(version === undefined ? {} : { version }),
        state,
        reason,
      });
      const { slot } = entry;
      if (slot === undefined) rows.push(row('UNAVAILABLE', entry.reason));
      else if (entry.unloading !== undefined) rows.push(row('UNLOADING', ''));
      else if (slot.state === 'ready') rows.push(row('READY', ''));
      else if (slot.state === 'failed') rows.push(row('UNAVAILABLE', slot.readiness().ready ? '' : 'failed to load; see the server log'));
      else rows.push(row('LOADING', ''));
    }
    return readyOnly ? rows.filter((row) => row.state === 'READY') : rows;
  }

  /**
   * The repository extension's load: loads `name` (unloading least recently used idle models when the budget asks),
   * and resolves once it is ready. Loading a loaded model keeps it: its files do not change while the server runs.
   * A model that failed to load is tried again.
   * @throws MODEL_NOT_FOUND, NOT_READY (shutting down, or no room in the budget), and the load's own error.
   */
  async load(name: string): Promise<void> {
    const entry = this.#entry(name);
    if (this.#closing) throw notReady('The server is shutting down.');
    await entry.unloading;
    const slot = entry.slot;
    if (slot !== undefined && slot.state === 'failed') await this.#unload(entry, 'unloaded');
    if (entry.slot !== undefined) {
      await entry.slot.load();
      return;
    }
    await this.#load(entry, 'explicit', Date.now() + this.#options.loadWaitMs);
  }

  /**
   * The repository extension's unload: new requests for `name` are refused (NOT_READY) until it is loaded again;
   * requests using it finish first. Resolves once its classifier is closed.
   * @throws MODEL_NOT_FOUND
   */
  async unload(name: string): Promise<void> {
    const entry = this.#entry(name);
    entry.reason = 'unloaded';
    // A load of it waiting for room sees the request and gives up.
    this.#wakeRoomWaiters();
    await this.#unload(entry, 'unloaded');
  }

  /** Marks every model not-ready (/readyz and new requests 503); requests in progress continue. */
  beginShutdown(): void {
    this.#closing = true;
    for (const entry of this.#entries.values()) entry.slot?.beginShutdown();
    // Loads waiting for room give up now rather than at their deadline.
    this.#wakeRoomWaiters();
  }

  /** Closes every classifier (each finishing its queued work) once. */
  async close(): Promise<void> {
    this.beginShutdown();
    await Promise.all([...this.#entries.values()].map((entry) => entry.slot?.close()));
  }

  /** Resolves once no load is in progress (see ClassifierSlot.settled). */
  async settled(): Promise<void> {
    // A load admitted before shutdown has made its slot (or given up) once the admission chain is done.
    await this.#admission;
    await Promise.all([...this.#entries.values()].map((entry) => entry.slot?.settled()));
  }

  #entry(name: string | undefined): Entry {
    const entry = this.#entries.get(name ?? this.defaultName);
    if (entry === undefined) {
      const served = this.names.join('", "');
      throw new ResnetServeError('MODEL_NOT_FOUND', { model: name ?? '', served }, { details: { model: name ?? '' } });
    }
    return entry;
  }

  /**
   * `entry`'s load: one at a time per model (requests that ask together share it), and admitted one model at a time,
   * so that two loads cannot both count the same free room in the budget.
   */
  #load(entry: Entry, kind: LoadKind, deadline = Number.POSITIVE_INFINITY): Promise<Classifier> {
    if (entry.slot !== undefined) return entry.slot.load();
    // At start the room was planned (start): the slots exist as soon as start() returns.
    if (kind === 'startup') return this.#createSlot(entry, kind);
    let pending = this.#pending.get(entry);
    if (pending === undefined) {
      // Wrapped, so that the turn ends when the slot exists rather than when its load does.
      const turn = this.#admission.then(async (): Promise<{ loading: Promise<Classifier> }> => {
        if (entry.slot !== undefined) return { loading: entry.slot.load() };
        await this.#makeRoom(entry, kind, deadline);
        return { loading: this.#createSlot(entry, kind) };
      });
      this.#admission = turn.then(
        () => undefined,
        () => undefined,
      );
      pending = turn.then(({ loading }) => loading);
      const settled = (): void => {
        this.#pending.delete(entry);
      };
      pending.then(settled, settled);
      this.#pending.set(entry, pending);
    }
    return pending;
  }

  /** @throws NOT_READY once shutdown began, or for a load on demand of a model unloaded on request. */
  #refuseLoad(entry: Entry, kind: LoadKind): void {
    if (this.#closing) throw notReady('The server is shutting down.');
    if (kind === 'demand' && entry.reason === 'unloaded') throw notReady(unloadedMessage(entry));
  }

  #createSlot(entry: Entry, kind: LoadKind): Promise<Classifier> {
    const slot = new ClassifierSlot(entry.model.loadClassifier, {
      observer: this.#observerOf(entry),
      maxPixels: this.#options.maxPixels,
      model: entry.model.model,
    });
    entry.slot = slot;
    entry.loadKind = kind;
    entry.reason = 'not loaded yet';
    this.#reportBytes();
    const loading = slot.load().then(
      (classifier) => {
        entry.learnt = classifier.model;
        entry.lastUsed = ++this.#clock;
        this.#gauges.loaded(entry.model.name, true);
        this.#options.onEvent?.({ kind: 'loaded', model: entry.model.name, id: classifier.model.id });
        // A model that has loaded can be unloaded for room: a load waiting for room looks again — on the next turn of
        // the event loop, once the requests that waited for this load have taken their leases (woken at once, it
        // would unload the model under them before they use it, and they would reload it: a livelock).
        setImmediate(() => this.#wakeRoomWaiters());
        return classifier;
      },
      (error: unknown) => {
        this.#options.onEvent?.({ kind: 'load-failed', model: entry.model.name, error });
        this.#wakeRoomWaiters();
        throw error;
      },
    );
    loading.catch(() => undefined);
    return loading;
  }

  /** Unloads least recently used idle models until `entry` fits the budget; waits for a lease to end when none is idle. */
  async #makeRoom(entry: Entry, kind: LoadKind, deadline: number): Promise<void> {
    const budget = this.#options.memoryBudgetBytes;
    for (;;) {
      // Shutdown, or an unload asked for while this load waited its turn: no load starts after either.
      this.#refuseLoad(entry, kind);
      if (budget === 0 || entry.slot !== undefined) return;
      const resident = [...this.#entries.values()].filter((other) => other.resident);
      const used = resident.reduce((sum, other) => sum + other.bytes, 0);
      if (used + entry.bytes <= budget) return;
      const idle = resident
        .filter((other) => other.leases === 0 && other.unloading === undefined && other.slot?.state !== 'loading')
        .sort((a, b) => a.lastUsed - b.lastUsed)[0];
      if (idle !== undefined) {
        await this.#unload(idle, 'memory budget');
        continue;
      }
      // Every loaded model is in use (or loading, or unloading): wait for one to be done.
      const woken = new Promise<void>((resolve) => this.#roomWaiters.add(resolve));
      await this.#within(deadline, woken, entry.model.name, () => this.#noRoom(entry));
    }
  }

  async #unload(entry: Entry, reason: UnloadReason): Promise<void> {
    if (entry.unloading !== undefined) return entry.unloading;
    const slot = entry.slot;
    if (slot === undefined) return;
    slot.beginShutdown();
    entry.unloading = (async () => {
      while (entry.leases > 0) await new Promise<void>((resolve) => this.#roomWaiters.add(resolve));
      // A slot still loading closes its session when the load ends (ClassifierSlot.load).
      await slot.close();
      await slot.settled();
      entry.slot = undefined;
      entry.unloading = undefined;
      if (entry.reason !== 'unloaded') entry.reason = reason;
      entry.depth = 0;
      this.#gauges.loaded(entry.model.name, false);
      this.#gauges.unloaded(entry.model.name, reason);
      this.#reportBytes();
      this.#options.onEvent?.({ kind: 'unloaded', model: entry.model.name, reason });
      this.#wakeRoomWaiters();
    })();
    return entry.unloading;
  }

  #wakeRoomWaiters(): void {
    const waiters = [...this.#roomWaiters];
    this.#roomWaiters.clear();
    for (const wake of waiters) wake();
  }

  #reportBytes(): void {
    let bytes = 0;
    for (const entry of this.#entries.values()) if (entry.resident) bytes += entry.bytes;
    this.#gauges.loadedBytes(bytes);
  }

  /** The app's observer, with this model's queue depth summed with the others' into the one gauge. */
  #observerOf(entry: Entry): ClassifierObserver {
    const { observer } = this.#options;
    return {
      ...observer,
      onQueueDepth: (depth) => {
        entry.depth = depth;
        let total = 0;
        for (const other of this.#entries.values()) total += other.depth;
        observer.onQueueDepth?.(total);
      },
    };
  }

  #noRoom(entry: Entry): ResnetServeError {
    const budget = mb(this.#options.memoryBudgetBytes);
    return notReady(
      `No room to load "${entry.model.name}" within the memory budget of ${budget}: every loaded model is in use. Retry shortly.`,
    );
  }

  /** `promise`, or NOT_READY once `deadline` passes. */
  async #within<T>(deadline: number, promise: Promise<T>, name: string | undefined, late?: () => ResnetServeError): Promise<T> {
    const left = deadline - Date.now();
    const refusal = late ?? (() => notReady(`The model "${name ?? this.defaultName}" did not load in time; retry shortly.`));
    if (left <= 0) throw refusal();
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_resolve, reject) => {
      timer = setTimeout(() => reject(refusal()), left);
      timer.unref();
    });
    try {
      return await Promise.race([promise, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }
}

function unloadedMessage(entry: Entry): string {
  const { name } = entry.model;
  switch (entry.reason) {
    case 'unloaded':
      return `The model "${name}" is unloaded: load it with POST /v2/repository/models/${name}/load.`;
    case 'memory budget':
      return `The model "${name}" was unloaded to keep within the memory budget; a request for it loads it again.`;
    default:
      return `The model "${name}" is not loaded yet; a request for it loads it.`;
  }
}

function mb(bytes: number): string {
  return `${(bytes / 1e6).toFixed(1)} MB`;
}

/** Throws a readiness's NOT_READY. */
function refuse(readiness: Readiness): void {
  if (!readiness.ready) throw readiness.reason;
}
