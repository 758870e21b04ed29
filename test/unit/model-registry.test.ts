/**
 * The registry of named models: when they load (at start, or on first use), the repository extension's index, load
 * and unload, the memory budget (the least recently used idle model unloaded first, never one a request is using),
 * one model's load beside the others' requests, shutdown, and the gauges it feeds /metrics.
 */
import { describe, expect, test } from 'vitest';
import type { Classifier } from '../../src/classifier/index.js';
import type { ModelContract } from '../../src/model/contract.js';
import type { ClassifierLoader } from '../../src/server/classifier-slot.js';
import { createServerMetrics, type ServerMetrics } from '../../src/server/metrics.js';
import {
  type ModelLoading,
  ModelRegistry,
  type RegisteredModel,
  type RegistryEvent,
  type RegistryGauges,
} from '../../src/server/model-registry.js';
import { rejectedError, thrownError } from '../helpers/errors.js';
import { FakeClassifier, fakeContract, manualLoader } from '../helpers/fake-classifier.js';

const MAX_PIXELS = 40_000_000;

/** Real time for the registry's promise chains and short timers to run: a step that is not blocked has happened by then. */
const tick = (ms = 20): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** A promise the test opens by hand, to hold a request (a lease) in flight. */
function gate(): { promise: Promise<void>; open: () => void } {
  let open!: () => void;
  const promise = new Promise<void>((resolve) => {
    open = resolve;
  });
  return { promise, open };
}

/** A contract of its own per model name, so a classifier tells which model it is and the index shows its version. */
function contractOf(name: string): ModelContract {
  const version = Buffer.from(name).toString('hex').padEnd(8, '0').slice(0, 8);
  return fakeContract({ name, version });
}

function classifierOf(name: string): FakeClassifier {
  return new FakeClassifier({ model: contractOf(name), maxPixels: MAX_PIXELS });
}

/**
 * What the fake loaders saw: the bytes of sessions alive (from the loader's call to the classifier's close), their
 * peak, and the order of loads, closes and the tests' own marks.
 */
class Memory {
  live = 0;
  peak = 0;
  readonly events: string[] = [];
  readonly loads = new Map<string, number>();
  readonly classifiers: TrackedClassifier[] = [];

  loadsOf(name: string): number {
    return this.loads.get(name) ?? 0;
  }
}

class TrackedClassifier extends FakeClassifier {
  readonly #memory: Memory;
  readonly #bytes: number;

  constructor(name: string, bytes: number, memory: Memory) {
    super({ model: contractOf(name), maxPixels: MAX_PIXELS });
    this.#memory = memory;
    this.#bytes = bytes;
  }

  override async close(): Promise<void> {
    const first = this.closeCalls === 0;
    await super.close();
    if (first) {
      this.#memory.live -= this.#bytes;
      this.#memory.events.push(`close ${this.model.name}`);
    }
  }
}

interface ModelSpec {
  readonly name: string;
  readonly bytes?: number;
  /** Registered with its contract (so described before it loads). */
  readonly described?: boolean;
  /** How long each load takes, in ms. Default 0 (the next turn). */
  readonly loadMs?: number;
  /** Replaces the tracked loader. */
  readonly loadClassifier?: ClassifierLoader;
}

interface Fixture {
  readonly registry: ModelRegistry;
  readonly metrics: ServerMetrics;
  readonly memory: Memory;
  /** Every value the registry reported to the loaded-bytes gauge, in order. */
  readonly bytesReported: number[];
  readonly registryEvents: RegistryEvent[];
}

function fixture(
  specs: readonly ModelSpec[],
  options: { loading?: ModelLoading; memoryBudgetBytes?: number; loadWaitMs?: number; defaultModel?: string } = {},
): Fixture {
  const metrics = createServerMetrics();
  const memory = new Memory();
  const bytesReported: number[] = [];
  const registryEvents: RegistryEvent[] = [];
  const gauges: RegistryGauges = {
    loaded: (name, loaded) => metrics.models.loaded(name, loaded),
    loadedBytes: (bytes) => {
      bytesReported.push(bytes);
      metrics.models.loadedBytes(bytes);
    },
    unloaded: (name, reason) => metrics.models.unloaded(name, reason),
  };
  const models: RegisteredModel[] = specs.map((spec) => {
    const bytes = spec.bytes ?? 0;
    const tracked: ClassifierLoader = async (context) => {
      expect(context.maxPixels).toBe(MAX_PIXELS);
      memory.loads.set(spec.name, memory.loadsOf(spec.name) + 1);
      memory.live += bytes;
      memory.peak = Math.max(memory.peak, memory.live);
      memory.events.push(`load ${spec.name}`);
      await tick(spec.loadMs ?? 0);
      const classifier = new TrackedClassifier(spec.name, bytes, memory);
      memory.classifiers.push(classifier);
      return classifier;
    };
    return {
      name: spec.name,
      loadClassifier: spec.loadClassifier ?? tracked,
      bytes,
      ...(spec.described === true ? { model: contractOf(spec.name) } : {}),
    };
  });
  const registry = new ModelRegistry(
    models,
    {
      observer: metrics.observer,
      maxPixels: MAX_PIXELS,
      memoryBudgetBytes: options.memoryBudgetBytes ?? 0,
      loading: options.loading ?? 'startup',
      loadWaitMs: options.loadWaitMs ?? 1000,
      onEvent: (event) => registryEvents.push(event),
      ...(options.defaultModel === undefined ? {} : { defaultModel: options.defaultModel }),
    },
    gauges,
  );
  return { registry, metrics, memory, bytesReported, registryEvents };
}

/** The name of the model whose classifier `use` was handed, after checking it was open. */
async function nameOf(registry: ModelRegistry, name: string | undefined): Promise<string> {
  return registry.use(name, async (classifier) => {
    expect((classifier as FakeClassifier).closed).toBe(false);
    return classifier.model.name;
  });
}

/** A metric's samples, by their label set (`{model="a"}`, or '' for none). */
async function samples(metrics: ServerMetrics, name: string): Promise<Record<string, number>> {
  const text = await metrics.registry.getSingleMetricAsString(name);
  const values: Record<string, number> = {};
  for (const line of text.split('\n')) {
    if (line.startsWith('#') || line.trim() === '') continue;
    const match = /^(\S+?)(\{.*\})?\s+(\S+)$/.exec(line);
    if (match === null) throw new Error(`unexpected metric line: ${line}`);
    values[match[2] ?? ''] = Number(match[3]);
  }
  return values;
}

function states(registry: ModelRegistry, readyOnly = false): Record<string, string> {
  return Object.fromEntries(
    registry.index(readyOnly).map((row) => [row.name, row.reason === '' ? row.state : `${row.state}: ${row.reason}`]),
  );
}

describe('loading at start or on first use, and readiness', () => {
  test('startup loads every model; the server is ready only once all have loaded', async () => {
    const a = manualLoader(classifierOf('a'));
    const b = manualLoader(classifierOf('b'));
    const calls = { a: 0, b: 0 };
    const { registry } = fixture([
      {
        name: 'a',
        loadClassifier: () => {
          calls.a++;
          return a.load();
        },
      },
      {
        name: 'b',
        loadClassifier: () => {
          calls.b++;
          return b.load();
        },
      },
    ]);
    const before = registry.readiness();
    expect(before.ready).toBe(false);
    if (!before.ready) expect(before.reason.code).toBe('NOT_READY');

    let started = false;
    const starting = registry.start().then(() => {
      started = true;
    });
    expect(registry.start()).toBe(registry.start());
    await tick();
    expect(calls).toEqual({ a: 1, b: 1 });
    expect(states(registry)).toEqual({ a: 'LOADING', b: 'LOADING' });
    expect(registry.readiness().ready).toBe(false);

    a.resolve();
    await tick();
    expect(started).toBe(false);
    expect(states(registry)).toEqual({ a: 'READY', b: 'LOADING' });
    const halfway = registry.readiness();
    expect(halfway.ready).toBe(false);
    if (!halfway.ready) expect(halfway.reason.message).toContain('"b"');
    // A model still loading at start is refused at once, not waited for.
    expect((await rejectedError(() => registry.use('b', async () => 0))).code).toBe('NOT_READY');

    b.resolve();
    await starting;
    expect(started).toBe(true);
    expect(registry.readiness()).toEqual({ ready: true });
    expect(states(registry)).toEqual({ a: 'READY', b: 'READY' });
    expect(calls).toEqual({ a: 1, b: 1 });
    expect(await nameOf(registry, 'b')).toBe('b');
    expect(await nameOf(registry, undefined)).toBe('a');
  });

  test('a model that fails to load at start: start() rejects, the server is not ready, the index says why', async () => {
    const { registry, registryEvents } = fixture([
      { name: 'a' },
      {
        name: 'b',
        loadClassifier: async () => {
          throw new Error('bad weights');
        },
      },
    ]);
    await expect(registry.start()).rejects.toThrow('bad weights');
    // start() rejects at the first failure; the others go on loading.
    await registry.settled();
    const readiness = registry.readiness();
    expect(readiness.ready).toBe(false);
    if (!readiness.ready) {
      expect(readiness.reason.code).toBe('NOT_READY');
      expect(readiness.reason.message).toContain('failed to load');
    }
    expect(registry.index()).toEqual([
      { name: 'a', version: contractOf('a').version, state: 'READY', reason: '' },
      { name: 'b', state: 'UNAVAILABLE', reason: 'failed to load; see the server log' },
    ]);
    expect(registry.index(true).map((row) => row.name)).toEqual(['a']);
    const refused = await rejectedError(() => registry.use('b', async () => 0));
    expect(refused.code).toBe('NOT_READY');
    expect(refused.message).toContain('failed to load');
    expect(registry.modelReadiness('b').ready).toBe(false);
    expect(registry.modelReadiness('a')).toEqual({ ready: true });
    expect(registryEvents.map((event) => `${event.kind} ${event.model}`).sort()).toEqual(['load-failed b', 'loaded a']);
  });

  test('first-use loads nothing at start; the first request loads its model once, shared by the requests that came with it', async () => {
    const { registry, memory } = fixture([{ name: 'a', loadMs: 30 }, { name: 'b' }], { loading: 'first-use' });
    await registry.start();
    expect(memory.loads.size).toBe(0);
    expect(registry.readiness()).toEqual({ ready: true });
    expect(states(registry)).toEqual({ a: 'UNAVAILABLE: not loaded yet', b: 'UNAVAILABLE: not loaded yet' });
    // Not described at registration: no version until it has loaded.
    expect(registry.index()[0]).not.toHaveProperty('version');
    const readiness = registry.modelReadiness('a');
    expect(readiness.ready).toBe(false);
    if (!readiness.ready) expect(readiness.reason.message).toContain('not loaded yet');

    const seen: Classifier[] = [];
    const both = Promise.all(
      [1, 2, 3].map(() =>
        registry.use('a', async (classifier) => {
          seen.push(classifier);
          return classifier.model.name;
        }),
      ),
    );
    await tick(5);
    expect(states(registry).a).toBe('LOADING');
    expect(await both).toEqual(['a', 'a', 'a']);
    expect(memory.loadsOf('a')).toBe(1);
    expect(new Set(seen).size).toBe(1);
    expect(memory.loadsOf('b')).toBe(0);
    expect(registry.index()).toEqual([
      { name: 'a', version: contractOf('a').version, state: 'READY', reason: '' },
      { name: 'b', state: 'UNAVAILABLE', reason: 'not loaded yet' },
    ]);
    expect(registry.readiness()).toEqual({ ready: true });
  });

  test('a first use whose load fails rejects with the load error, and the model is then refused, not reloaded', async () => {
    let calls = 0;
    const { registry } = fixture(
      [
        {
          name: 'a',
          loadClassifier: async () => {
            calls++;
            throw new Error('corrupt file');
          },
        },
      ],
      { loading: 'first-use' },
    );
    await registry.start();
    await expect(registry.use('a', async () => 0)).rejects.toThrow('corrupt file');
    expect(states(registry)).toEqual({ a: 'UNAVAILABLE: failed to load; see the server log' });
    expect((await rejectedError(() => registry.use('a', async () => 0))).code).toBe('NOT_READY');
    expect(calls).toBe(1);
  });
});

describe('the repository index', () => {
  test('READY, LOADING, UNLOADING and UNAVAILABLE with their reasons; index(true) lists only the ready', async () => {
    const slow = manualLoader(classifierOf('loading'));
    const { registry } = fixture(
      [
        { name: 'ready', described: true },
        { name: 'loading', described: true, loadClassifier: slow.load },
        { name: 'unloading', described: true },
        { name: 'unloaded', described: true },
        { name: 'never', described: true },
      ],
      { loading: 'first-use' },
    );
    await registry.start();
    // Described at registration: every version is known before anything loads.
    expect(registry.index().map((row) => row.version)).toEqual(
      ['ready', 'loading', 'unloading', 'unloaded', 'never'].map((name) => contractOf(name).version),
    );
    await nameOf(registry, 'ready');
    await nameOf(registry, 'unloading');
    await nameOf(registry, 'unloaded');
    await registry.unload('unloaded');
    const loading = registry.use('loading', async (classifier) => classifier.model.name);
    const held = gate();
    const lease = registry.use('unloading', () => held.promise);
    await tick();
    const unloading = registry.unload('unloading');
    await tick();

    expect(registry.index()).toEqual([
      { name: 'ready', version: contractOf('ready').version, state: 'READY', reason: '' },
      { name: 'loading', version: contractOf('loading').version, state: 'LOADING', reason: '' },
      { name: 'unloading', version: contractOf('unloading').version, state: 'UNLOADING', reason: '' },
      { name: 'unloaded', version: contractOf('unloaded').version, state: 'UNAVAILABLE', reason: 'unloaded' },
      { name: 'never', version: contractOf('never').version, state: 'UNAVAILABLE', reason: 'not loaded yet' },
    ]);
    expect(registry.index(true).map((row) => row.name)).toEqual(['ready']);

    held.open();
    slow.resolve();
    await Promise.all([lease, unloading]);
    expect(await loading).toBe('loading');
    expect(states(registry)).toEqual({
      ready: 'READY',
      loading: 'READY',
      unloading: 'UNAVAILABLE: unloaded',
      unloaded: 'UNAVAILABLE: unloaded',
      never: 'UNAVAILABLE: not loaded yet',
    });
    expect(registry.index(true).map((row) => row.name)).toEqual(['ready', 'loading']);
  });

  test('a model registered without its contract shows the version it loaded with, also once unloaded', async () => {
    const { registry } = fixture([{ name: 'a' }, { name: 'b' }], { loading: 'first-use' });
    await registry.start();
    expect(registry.contract('a')).toBeUndefined();
    await nameOf(registry, 'a');
    await registry.unload('a');
    expect(registry.index()).toEqual([
      { name: 'a', version: contractOf('a').version, state: 'UNAVAILABLE', reason: 'unloaded' },
      { name: 'b', state: 'UNAVAILABLE', reason: 'not loaded yet' },
    ]);
    expect(registry.contract('a')?.id).toBe(contractOf('a').id);
  });
});

describe('unload and load', () => {
  test('unload waits for the requests using the model, then closes it; it is refused until loaded again', async () => {
    const { registry, memory, registryEvents } = fixture([{ name: 'a' }, { name: 'b' }]);
    await registry.start();
    const first = memory.classifiers[0]!;
    expect(first.model.name).toBe('a');

    const held = gate();
    const lease = registry.use('a', async (classifier) => {
      memory.events.push('lease start');
      await held.promise;
      // Still open at the end of the request: the unload waited.
      expect((classifier as FakeClassifier).closed).toBe(false);
      memory.events.push('lease end');
      return classifier;
    });
    await tick();
    let unloaded = false;
    const unloading = registry.unload('a').then(() => {
      unloaded = true;
    });
    await tick(50);
    expect(unloaded).toBe(false);
    expect(first.closeCalls).toBe(0);
    expect(states(registry).a).toBe('UNLOADING');
    // A request that comes during the unload is refused once it is done.
    const during = rejectedError(() => registry.use('a', async () => 0));
    // Another model answers meanwhile.
    expect(await nameOf(registry, 'b')).toBe('b');

    held.open();
    expect(await lease).toBe(first);
    await unloading;
    expect(unloaded).toBe(true);
    expect(first.closeCalls).toBe(1);
    expect(memory.events).toEqual(['load a', 'load b', 'lease start', 'lease end', 'close a']);
    expect(registryEvents).toContainEqual({ kind: 'unloaded', model: 'a', reason: 'unloaded' });

    const refusedDuring = await during;
    expect(refusedDuring.code).toBe('NOT_READY');
    expect(refusedDuring.message).toContain('POST /v2/repository/models/a/load');
    const refused = await rejectedError(() => registry.use('a', async () => 0));
    expect(refused.code).toBe('NOT_READY');
    expect(refused.message).toContain('POST /v2/repository/models/a/load');
    const readiness = registry.modelReadiness('a');
    expect(readiness.ready).toBe(false);
    if (!readiness.ready) expect(readiness.reason.message).toContain('POST /v2/repository/models/a/load');
    expect(memory.loadsOf('a')).toBe(1);
    // Unloading is the operator's choice: the server stays ready.
    expect(registry.readiness()).toEqual({ ready: true });

    await registry.load('a');
    expect(memory.loadsOf('a')).toBe(2);
    expect(states(registry).a).toBe('READY');
    const second = await registry.use('a', async (classifier) => classifier);
    expect(second).not.toBe(first);
    expect((second as FakeClassifier).closed).toBe(false);
    expect(first.closeCalls).toBe(1);
  });

  test('loading a loaded model keeps it (no second load); unloading an unloaded one is harmless', async () => {
    const { registry, memory } = fixture([{ name: 'a' }]);
    await registry.start();
    const before = await registry.use('a', async (classifier) => classifier);
    await registry.load('a');
    await registry.load('a');
    expect(memory.loadsOf('a')).toBe(1);
    expect(await registry.use('a', async (classifier) => classifier)).toBe(before);
    await registry.unload('a');
    await registry.unload('a');
    expect((before as FakeClassifier).closeCalls).toBe(1);
    expect(states(registry)).toEqual({ a: 'UNAVAILABLE: unloaded' });
  });

  test('a model that failed to load is tried again by load', async () => {
    let calls = 0;
    const { registry } = fixture(
      [
        {
          name: 'a',
          loadClassifier: async () => {
            calls++;
            if (calls === 1) throw new Error('disk hiccup');
            return classifierOf('a');
          },
        },
      ],
      { loading: 'first-use' },
    );
    await registry.start();
    await expect(registry.load('a')).rejects.toThrow('disk hiccup');
    expect(states(registry)).toEqual({ a: 'UNAVAILABLE: failed to load; see the server log' });
    await registry.load('a');
    expect(calls).toBe(2);
    expect(states(registry)).toEqual({ a: 'READY' });
    expect(await nameOf(registry, 'a')).toBe('a');
  });

  test('unknown names are MODEL_NOT_FOUND everywhere; a version other than the contract’s is too', async () => {
    const { registry } = fixture([{ name: 'a', described: true }]);
    await registry.start();
    expect(thrownError(() => registry.check('nope')).code).toBe('MODEL_NOT_FOUND');
    expect(thrownError(() => registry.modelReadiness('nope')).code).toBe('MODEL_NOT_FOUND');
    expect(thrownError(() => registry.contract('nope')).code).toBe('MODEL_NOT_FOUND');
    expect((await rejectedError(() => registry.use('nope', async () => 0))).code).toBe('MODEL_NOT_FOUND');
    expect((await rejectedError(() => registry.load('nope'))).code).toBe('MODEL_NOT_FOUND');
    expect((await rejectedError(() => registry.unload('nope'))).code).toBe('MODEL_NOT_FOUND');

    const wrong = thrownError(() => registry.check('a', 'ffffffff'));
    expect(wrong.code).toBe('MODEL_NOT_FOUND');
    expect(wrong.details).toMatchObject({ model: 'a', version: 'ffffffff' });
    expect(() => registry.check('a', contractOf('a').version)).not.toThrow();
    expect(() => registry.check('a', '')).not.toThrow();
    expect(() => registry.check('a')).not.toThrow();
    // The unknown names changed nothing.
    expect(states(registry)).toEqual({ a: 'READY' });
  });

  test('the constructor refuses no models, duplicate names, an unknown default, and a model over the budget', () => {
    const model = (name: string, bytes = 0): RegisteredModel => ({ name, bytes, loadClassifier: async () => classifierOf(name) });
    const options = { observer: {}, maxPixels: MAX_PIXELS, memoryBudgetBytes: 0, loading: 'startup', loadWaitMs: 1000 } as const;
    const gauges = createServerMetrics().models;
    expect(thrownError(() => new ModelRegistry([], options, gauges)).code).toBe('INVALID_ARGUMENT');
    expect(thrownError(() => new ModelRegistry([model('a'), model('a')], options, gauges)).message).toContain('"a"');
    expect(thrownError(() => new ModelRegistry([model('a')], { ...options, defaultModel: 'b' }, gauges)).message).toContain('"b"');
    expect(thrownError(() => new ModelRegistry([model('a', 2_000_000)], { ...options, memoryBudgetBytes: 1_000_000 }, gauges)).code).toBe(
      'INVALID_ARGUMENT',
    );
    expect(new ModelRegistry([model('a'), model('b')], { ...options, defaultModel: 'b' }, gauges).defaultName).toBe('b');
  });
});

describe('the memory budget', () => {
  const three = (loading: ModelLoading = 'startup'): ModelSpec[] =>
    ['a', 'b', 'c'].map((name) => ({ name, bytes: 600_000, described: loading === 'first-use' }));

  test('at start only what fits loads; a request for another unloads the least recently used idle one first', async () => {
    const { registry, memory, metrics } = fixture(three(), { memoryBudgetBytes: 1_000_000 });
    await registry.start();
    expect(memory.events).toEqual(['load a']);
    expect(registry.readiness()).toEqual({ ready: true });
    expect(states(registry)).toEqual({ a: 'READY', b: 'UNAVAILABLE: not loaded yet', c: 'UNAVAILABLE: not loaded yet' });
    expect(await samples(metrics, 'resnet_models_loaded_bytes')).toEqual({ '': 600_000 });

    expect(await nameOf(registry, 'b')).toBe('b');
    // a's session closed before b's load began.
    expect(memory.events).toEqual(['load a', 'close a', 'load b']);
    expect(states(registry)).toEqual({ a: 'UNAVAILABLE: memory budget', b: 'READY', c: 'UNAVAILABLE: not loaded yet' });
    const readiness = registry.modelReadiness('a');
    expect(readiness.ready).toBe(false);
    if (!readiness.ready) expect(readiness.reason.message).toContain('memory budget');
    expect(await samples(metrics, 'resnet_model_unloads_total')).toEqual({ '{model="a",reason="memory budget"}': 1 });
    expect(await samples(metrics, 'resnet_model_loaded')).toEqual({ '{model="a"}': 0, '{model="b"}': 1 });
    expect(await samples(metrics, 'resnet_models_loaded_bytes')).toEqual({ '': 600_000 });

    // A model the budget unloaded loads again on its next request.
    expect(await nameOf(registry, 'a')).toBe('a');
    expect(memory.events).toEqual(['load a', 'close a', 'load b', 'close b', 'load a']);
    expect(memory.peak).toBe(600_000);
  });

  test('a model in use is not unloaded: the request for another waits until that request ends', async () => {
    const { registry, memory } = fixture(three('first-use'), { loading: 'first-use', memoryBudgetBytes: 1_000_000 });
    await registry.start();
    const held = gate();
    const lease = registry.use('a', async (classifier) => {
      memory.events.push('a starts');
      await held.promise;
      expect((classifier as FakeClassifier).closed).toBe(false);
      memory.events.push('a ends');
      return classifier.model.name;
    });
    await tick();
    let bDone = false;
    const b = registry
      .use('b', async (classifier) => {
        memory.events.push('b runs');
        return classifier.model.name;
      })
      .then((name) => {
        bDone = true;
        return name;
      });
    await tick(100);
    expect(bDone).toBe(false);
    expect(memory.events).toEqual(['load a', 'a starts']);
    expect(states(registry)).toMatchObject({ a: 'READY', b: 'UNAVAILABLE: not loaded yet' });
    // The model in use still answers other requests while b waits for room.
    expect(await nameOf(registry, 'a')).toBe('a');

    held.open();
    expect(await lease).toBe('a');
    expect(await b).toBe('b');
    expect(memory.events).toEqual(['load a', 'a starts', 'a ends', 'close a', 'load b', 'b runs']);
    expect(memory.peak).toBe(600_000);
  });

  test('least recently used first: a, b, a, then c unloads b, not a; then b unloads a', async () => {
    const { registry, memory, metrics } = fixture(three('first-use'), { loading: 'first-use', memoryBudgetBytes: 1_200_000 });
    await registry.start();
    for (const name of ['a', 'b', 'a', 'c']) expect(await nameOf(registry, name)).toBe(name);
    expect(memory.events).toEqual(['load a', 'load b', 'close b', 'load c']);
    expect(states(registry)).toEqual({ a: 'READY', b: 'UNAVAILABLE: memory budget', c: 'READY' });
    // Now a (used third) is older than c (used fourth).
    expect(await nameOf(registry, 'b')).toBe('b');
    expect(memory.events).toEqual(['load a', 'load b', 'close b', 'load c', 'close a', 'load b']);
    expect(states(registry)).toEqual({ a: 'UNAVAILABLE: memory budget', b: 'READY', c: 'READY' });
    expect(memory.loadsOf('a')).toBe(1);
    expect(memory.peak).toBe(1_200_000);
    expect(await samples(metrics, 'resnet_model_unloads_total')).toEqual({
      '{model="b",reason="memory budget"}': 1,
      '{model="a",reason="memory budget"}': 1,
    });
  });

  test('a demand load that gets no room within loadWaitMs is NOT_READY; it loads once the room is free', async () => {
    const { registry, memory } = fixture(three('first-use'), { loading: 'first-use', memoryBudgetBytes: 1_000_000, loadWaitMs: 300 });
    await registry.start();
    const held = gate();
    const lease = registry.use('a', () => held.promise);
    await tick();
    const began = Date.now();
    const refused = await rejectedError(() => registry.use('b', async () => 0));
    const waited = Date.now() - began;
    expect(refused.code).toBe('NOT_READY');
    expect(refused.message).toContain('"b"');
    expect(waited).toBeGreaterThanOrEqual(250);
    expect(waited).toBeLessThan(2000);
    expect(memory.events).toEqual(['load a']);
    expect(states(registry)).toMatchObject({ a: 'READY', b: 'UNAVAILABLE: not loaded yet' });
    // The repository extension's load says why.
    const explicit = await rejectedError(() => registry.load('c'));
    expect(explicit.code).toBe('NOT_READY');
    expect(explicit.message).toContain('No room to load "c"');
    expect(memory.events).toEqual(['load a']);

    held.open();
    await lease;
    expect(await nameOf(registry, 'b')).toBe('b');
    expect(memory.events).toEqual(['load a', 'close a', 'load b']);
  });

  test('explicit load makes room like a request does', async () => {
    const { registry, memory, metrics } = fixture(three(), { memoryBudgetBytes: 1_000_000 });
    await registry.start();
    await registry.load('c');
    expect(memory.events).toEqual(['load a', 'close a', 'load c']);
    expect(states(registry)).toEqual({ a: 'UNAVAILABLE: memory budget', b: 'UNAVAILABLE: not loaded yet', c: 'READY' });
    expect(await samples(metrics, 'resnet_model_loaded')).toEqual({ '{model="a"}': 0, '{model="c"}': 1 });
  });

  test.each([
    { fits: 1, budget: 1_000_000 },
    { fits: 2, budget: 1_500_000 },
  ])(
    '30 interleaved requests over 3 models with room for $fits: each gets its model, the budget always holds',
    async ({ fits, budget }) => {
      const { registry, memory, metrics, bytesReported } = fixture(
        ['a', 'b', 'c'].map((name) => ({ name, bytes: 600_000, loadMs: 3 })),
        { loading: 'first-use', memoryBudgetBytes: budget, loadWaitMs: 8000 },
      );
      await registry.start();
      /** Requests using each model now, and the most of them using different models at once. */
      const using = new Map<string, number>();
      let mostModelsAtOnce = 0;
      // An order that neither repeats one model nor cycles evenly.
      const order = Array.from({ length: 30 }, (_, i) => ['a', 'b', 'c'][(i * 7 + (i >> 2)) % 3]!);
      const requests = order.map(async (name, i) => {
        await tick(i % 5);
        return registry.use(name, async (classifier) => {
          const fake = classifier as FakeClassifier;
          expect(fake.closed).toBe(false);
          using.set(name, (using.get(name) ?? 0) + 1);
          mostModelsAtOnce = Math.max(mostModelsAtOnce, [...using.values()].filter((count) => count > 0).length);
          await tick(1 + (i % 4));
          expect(fake.closed).toBe(false);
          using.set(name, (using.get(name) ?? 0) - 1);
          return classifier.model.name;
        });
      });
      const answers = await Promise.allSettled(requests);
      expect(answers.map((answer) => (answer.status === 'fulfilled' ? answer.value : String(answer.reason)))).toEqual(order);

      // Never more sessions alive than the budget holds, by the loaders' own count and by the gauge's.
      expect(memory.peak).toBeLessThanOrEqual(budget);
      expect(Math.max(...bytesReported)).toBeLessThanOrEqual(budget);
      expect(mostModelsAtOnce).toBeLessThanOrEqual(fits);
      const closes = memory.events.filter((event) => event.startsWith('close')).length;
      const loads = memory.events.filter((event) => event.startsWith('load')).length;
      expect(closes).toBeGreaterThan(0);
      expect(loads - closes).toBe(memory.live / 600_000);
      expect(memory.live).toBeLessThanOrEqual(budget);
      // Every close was an eviction the counter saw.
      const unloads = await samples(metrics, 'resnet_model_unloads_total');
      expect(Object.keys(unloads).every((labels) => labels.includes('reason="memory budget"'))).toBe(true);
      expect(Object.values(unloads).reduce((sum, count) => sum + count, 0)).toBe(closes);
      const ready = registry.index(true).map((row) => row.name);
      expect(ready.length).toBeGreaterThan(0);
      expect(ready.length).toBeLessThanOrEqual(fits);
      expect(await samples(metrics, 'resnet_models_loaded_bytes')).toEqual({ '': ready.length * 600_000 });
      const loaded = await samples(metrics, 'resnet_model_loaded');
      for (const name of ['a', 'b', 'c']) expect(loaded[`{model="${name}"}`]).toBe(ready.includes(name) ? 1 : 0);
      await registry.close();
      expect(memory.classifiers.every((classifier) => classifier.closeCalls === 1)).toBe(true);
    },
  );
});

describe('one model’s load beside the others’ requests', () => {
  test('a slow load on first use does not hold up a request for another model (within a budget both fit)', async () => {
    const slow = manualLoader(classifierOf('a'));
    const { registry } = fixture(
      [
        { name: 'a', bytes: 400_000, described: true, loadClassifier: slow.load },
        { name: 'b', bytes: 400_000, described: true },
      ],
      { loading: 'first-use', memoryBudgetBytes: 1_000_000, loadWaitMs: 5000 },
    );
    await registry.start();
    let aDone = false;
    const a = nameOf(registry, 'a').then((name) => {
      aDone = true;
      return name;
    });
    await tick();
    expect(await nameOf(registry, 'b')).toBe('b');
    expect(aDone).toBe(false);
    expect(states(registry)).toEqual({ a: 'LOADING', b: 'READY' });
    slow.resolve();
    expect(await a).toBe('a');
  });

  test('a model still loading at start is refused while the loaded ones answer', async () => {
    const slow = manualLoader(classifierOf('a'));
    const { registry } = fixture([{ name: 'a', loadClassifier: slow.load }, { name: 'b' }]);
    const started = registry.start();
    await tick();
    expect(await nameOf(registry, 'b')).toBe('b');
    expect((await rejectedError(() => registry.use('a', async () => 0))).code).toBe('NOT_READY');
    slow.resolve();
    await started;
    expect(await nameOf(registry, 'a')).toBe('a');
  });
});

describe('shutdown', () => {
  test('after beginShutdown new requests and loads are NOT_READY while those in progress finish; close closes each classifier once', async () => {
    const { registry, memory } = fixture([{ name: 'a' }, { name: 'b' }, { name: 'c' }], { loading: 'first-use' });
    await registry.start();
    await nameOf(registry, 'a');
    await nameOf(registry, 'b');
    await nameOf(registry, 'c');
    await registry.unload('c');
    const held = gate();
    const lease = registry.use('a', async (classifier) => {
      await held.promise;
      return classifier.model.name;
    });
    await tick();

    registry.beginShutdown();
    expect(registry.closing).toBe(true);
    const readiness = registry.readiness();
    expect(readiness.ready).toBe(false);
    if (!readiness.ready) expect(readiness.reason.message).toContain('shutting down');
    expect(registry.modelReadiness('b').ready).toBe(false);
    for (const name of ['a', 'b', 'c']) {
      const refused = await rejectedError(() => registry.use(name, async () => 0));
      expect(refused.code).toBe('NOT_READY');
      expect(refused.message).toContain('shutting down');
    }
    expect((await rejectedError(() => registry.load('c'))).code).toBe('NOT_READY');
    held.open();
    expect(await lease).toBe('a');

    await registry.close();
    await registry.close();
    expect(memory.classifiers.map((classifier) => [classifier.model.name, classifier.closeCalls])).toEqual([
      ['a', 1],
      ['b', 1],
      ['c', 1],
    ]);
    expect(memory.loadsOf('c')).toBe(1);
  });

  test('settled() resolves once a load in progress has ended; that late classifier is closed', async () => {
    const late = classifierOf('a');
    const slow = manualLoader(late);
    const { registry } = fixture([{ name: 'a', loadClassifier: slow.load }, { name: 'b' }], { loading: 'first-use' });
    await registry.start();
    const request = rejectedError(() => registry.use('a', async () => 0));
    await tick();
    expect(states(registry).a).toBe('LOADING');
    await registry.close();
    let settled = false;
    const settling = registry.settled().then(() => {
      settled = true;
    });
    await tick(50);
    expect(settled).toBe(false);
    slow.resolve();
    await settling;
    expect(settled).toBe(true);
    expect(late.closeCalls).toBe(1);
    expect((await request).code).toBe('NOT_READY');
  });
});

describe('the gauges', () => {
  test('resnet_model_loaded and resnet_models_loaded_bytes follow loads and unloads; unloads are counted by reason', async () => {
    const slow = manualLoader(classifierOf('b'));
    const { registry, metrics } = fixture(
      [
        { name: 'a', bytes: 100 },
        { name: 'b', bytes: 250, loadClassifier: slow.load },
      ],
      { loading: 'first-use' },
    );
    await registry.start();
    expect(await samples(metrics, 'resnet_model_loaded')).toEqual({});
    expect(await samples(metrics, 'resnet_models_loaded_bytes')).toEqual({ '': 0 });

    await nameOf(registry, 'a');
    expect(await samples(metrics, 'resnet_model_loaded')).toEqual({ '{model="a"}': 1 });
    expect(await samples(metrics, 'resnet_models_loaded_bytes')).toEqual({ '': 100 });

    // A model counts against the budget from the start of its load; it is "loaded" once ready.
    const b = nameOf(registry, 'b');
    await tick();
    expect(await samples(metrics, 'resnet_models_loaded_bytes')).toEqual({ '': 350 });
    expect(await samples(metrics, 'resnet_model_loaded')).toEqual({ '{model="a"}': 1 });
    slow.resolve();
    expect(await b).toBe('b');
    expect(await samples(metrics, 'resnet_model_loaded')).toEqual({ '{model="a"}': 1, '{model="b"}': 1 });

    await registry.unload('a');
    expect(await samples(metrics, 'resnet_model_loaded')).toEqual({ '{model="a"}': 0, '{model="b"}': 1 });
    expect(await samples(metrics, 'resnet_models_loaded_bytes')).toEqual({ '': 250 });
    expect(await samples(metrics, 'resnet_model_unloads_total')).toEqual({ '{model="a",reason="unloaded"}': 1 });

    await registry.load('a');
    expect(await samples(metrics, 'resnet_model_loaded')).toEqual({ '{model="a"}': 1, '{model="b"}': 1 });
    expect(await samples(metrics, 'resnet_models_loaded_bytes')).toEqual({ '': 350 });
  });
});

describe('what the registry sums over its models', () => {
  test('resnet_queue_depth is the sum of every model’s queue; requestTimeoutMs is the longest loaded one’s', async () => {
    const held = gate();
    const png = Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), Buffer.alloc(64, 1)]);
    const loader =
      (name: string, requestTimeoutMs: number): ClassifierLoader =>
      async (context) =>
        new FakeClassifier({
          model: contractOf(name),
          maxPixels: context.maxPixels,
          observer: context.observer,
          gate: held.promise,
          requestTimeoutMs,
        });
    const { registry, metrics } = fixture(
      [
        { name: 'a', loadClassifier: loader('a', 5_000) },
        { name: 'b', loadClassifier: loader('b', 9_000) },
      ],
      { loading: 'first-use' },
    );
    await registry.start();
    expect(registry.requestTimeoutMs(1234)).toBe(1234);
    const requests = [
      registry.use('a', (classifier) => classifier.classify(png)),
      registry.use('a', (classifier) => classifier.classify(png)),
      registry.use('b', (classifier) => classifier.classify(png)),
    ];
    await tick();
    expect(await samples(metrics, 'resnet_queue_depth')).toEqual({ '': 3 });
    expect(registry.requestTimeoutMs(1234)).toBe(9_000);
    held.open();
    await Promise.all(requests);
    expect(await samples(metrics, 'resnet_queue_depth')).toEqual({ '': 0 });
    await registry.unload('b');
    expect(registry.requestTimeoutMs(1234)).toBe(5_000);
  });
});

describe('found by review: readiness, room waits, shutdown and unload races', () => {
  test('readiness stays true while a startup-loaded model is unloaded', async () => {
    const { registry } = fixture([{ name: 'a' }, { name: 'b' }]);
    await registry.start();
    const held = gate();
    const lease = registry.use('a', () => held.promise);
    await tick();
    const unloading = registry.unload('a');
    await tick();
    expect(registry.readiness()).toEqual({ ready: true });
    held.open();
    await lease;
    await unloading;
  });

  test('a request waiting for room loads once the model that was loading is idle', async () => {
    const slow = manualLoader(classifierOf('a'));
    const { registry } = fixture(
      [
        { name: 'a', bytes: 600_000, loadClassifier: slow.load },
        { name: 'b', bytes: 600_000 },
      ],
      { loading: 'first-use', memoryBudgetBytes: 1_000_000, loadWaitMs: 500 },
    );
    await registry.start();
    const loading = registry.load('a');
    await tick();
    const b = nameOf(registry, 'b');
    await tick();
    slow.resolve();
    await loading;
    expect(await b).toBe('b');
  });

  test('no load starts after close()', async () => {
    const { registry, memory } = fixture(
      [
        { name: 'a', bytes: 600_000 },
        { name: 'b', bytes: 600_000 },
      ],
      { loading: 'first-use', memoryBudgetBytes: 1_000_000, loadWaitMs: 2000 },
    );
    await registry.start();
    const held = gate();
    const lease = registry.use('a', () => held.promise);
    await tick();
    const b = rejectedError(() => registry.use('b', async () => 0));
    await tick();
    await registry.close();
    await registry.settled();
    held.open();
    await lease;
    expect((await b).code).toBe('NOT_READY');
    await tick(50);
    await registry.settled();
    expect(memory.live).toBe(0);
    expect(memory.loadsOf('b')).toBe(0);
  });

  test('unload() of a model whose demand load waits for room keeps it unloaded', async () => {
    const { registry, memory } = fixture(
      [
        { name: 'a', bytes: 600_000 },
        { name: 'b', bytes: 600_000 },
      ],
      { loading: 'first-use', memoryBudgetBytes: 1_000_000, loadWaitMs: 2000 },
    );
    await registry.start();
    const held = gate();
    const lease = registry.use('a', () => held.promise);
    await tick();
    const b = registry.use('b', async (c) => c.model.name).catch((e: Error) => e.message);
    await tick();
    await registry.unload('b');
    held.open();
    await lease;
    expect(await b).toContain('POST /v2/repository/models/b/load');
    expect(memory.loadsOf('b')).toBe(0);
    expect(states(registry).b).toBe('UNAVAILABLE: unloaded');
  });
});
