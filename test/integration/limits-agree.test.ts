/**
 * One test per limit that more than one layer enforces: the route, the classifier, the command line's flag and
 * what GET /config tells the page accept and refuse the same values, because they all read one declaration.
 */
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, test, vi } from 'vitest';
import { type Classifier, createClassifier } from '../../src/classifier/index.js';
import { SETTINGS } from '../../src/cli/settings.js';
import { TOP_K } from '../../src/labels/postprocess.js';
import { type AppOptions, buildApp } from '../../src/server/app.js';
import { DRAIN_MARGIN_MS, installShutdownHandlers } from '../../src/server/start.js';
import { rejectedError, thrownError } from '../helpers/errors.js';
import { FakeClassifier } from '../helpers/fake-classifier.js';
import { fileUpload } from '../helpers/multipart.js';
import { syntheticModel } from '../helpers/synthetic-model.js';

/** A plain PNG of `width` × `height`. */
function png(width: number, height: number): Promise<Buffer> {
  return sharp({ create: { width, height, channels: 3, background: '#808080' } })
    .png()
    .toBuffer();
}

type App = Awaited<ReturnType<typeof buildApp>>;

/** A ready app over the real classifier on the synthetic model, made with the loader's pixel limit. */
async function realApp(options: Omit<AppOptions, 'loadClassifier'> = {}): Promise<{ app: App; classifier: Classifier }> {
  let classifier: Classifier | undefined;
  const app = await buildApp({
    ...options,
    loadClassifier: async ({ maxPixels }) => {
      classifier = await createClassifier({ model: syntheticModel(), threads: 2, maxPixels });
      return classifier;
    },
  });
  await app.ready();
  await app.models.start();
  return { app, classifier: classifier as Classifier };
}

describe('the largest top-k', () => {
  let app: App;
  let classifier: Classifier;
  let image: Buffer;

  beforeAll(async () => {
    image = await png(64, 48);
    ({ app, classifier } = await realApp());
  }, 120_000);
  afterAll(async () => {
    await app?.close();
  });

  test('is 20 at /config, the route, the classifier and --top alike: 20 passes, 21 and 0 are refused', async () => {
    expect(TOP_K.max).toBe(20);
    expect((await app.inject('/config')).json().maxTopK).toBe(TOP_K.max);
    expect(classifier.limits.maxTopK).toBe(TOP_K.max);

    const route = async (top: number) => app.inject({ method: 'POST', url: `/predict?top=${top}`, ...fileUpload(image, 'grey.png') });
    const atMax = await route(TOP_K.max);
    expect(atMax.statusCode).toBe(200);
    expect(atMax.json().predictions).toHaveLength(TOP_K.max);
    expect((await classifier.classify(image, { topK: TOP_K.max })).predictions).toHaveLength(TOP_K.max);
    expect(SETTINGS.topK.check('--top', TOP_K.max)).toBe(TOP_K.max);

    for (const refused of [TOP_K.max + 1, 0]) {
      const answer = await route(refused);
      expect(answer.statusCode, `?top=${refused}`).toBe(400);
      expect(answer.json().code).toBe('INVALID_ARGUMENT');
      expect((await rejectedError(() => classifier.classify(image, { topK: refused }))).code).toBe('INVALID_ARGUMENT');
      expect(thrownError(() => SETTINGS.topK.check('--top', refused)).message).toBe(
        `Expected an integer from 1 to 20 for --top but received ${refused}`,
      );
    }
  });
});

describe('the pixel limit', () => {
  const MAX_PIXELS = 64 * 48;
  let app: App;
  let classifier: Classifier;

  beforeAll(async () => {
    ({ app, classifier } = await realApp({ maxPixels: MAX_PIXELS }));
  }, 120_000);
  afterAll(async () => {
    await app?.close();
  });

  test('is what /config publishes, and the route and the classifier take exactly that many pixels, not one more', async () => {
    expect((await app.inject('/config')).json().maxPixels).toBe(MAX_PIXELS);
    expect(classifier.limits.maxPixels).toBe(MAX_PIXELS);
    const atLimit = await png(64, 48);
    const over = await png(MAX_PIXELS + 1, 1);
    const route = async (bytes: Buffer) => app.inject({ method: 'POST', url: '/predict', ...fileUpload(bytes, 'image.png') });

    expect((await route(atLimit)).statusCode).toBe(200);
    expect((await classifier.classify(atLimit)).predictions).toHaveLength(3);
    const refused = await route(over);
    expect(refused.statusCode).toBe(413);
    expect(refused.json().code).toBe('IMAGE_TOO_LARGE');
    expect((await rejectedError(() => classifier.classify(over))).code).toBe('IMAGE_TOO_LARGE');
  });

  test('a classifier made with another limit than the app publishes is refused at load, and the app stays not ready', async () => {
    const other = await buildApp({ maxPixels: MAX_PIXELS, loadClassifier: async () => new FakeClassifier() });
    try {
      await other.ready();
      const error = await rejectedError(() => other.models.start());
      expect(error.code).toBe('INVALID_ARGUMENT');
      expect(error.message).toContain(String(MAX_PIXELS));
      expect((await other.inject('/readyz')).statusCode).toBe(503);
    } finally {
      await other.close();
    }
  });
});

describe('the upload limit', () => {
  const MAX_UPLOAD = 4096;
  let app: App;

  beforeAll(async () => {
    app = await buildApp({ maxUploadBytes: MAX_UPLOAD, loadClassifier: async () => new FakeClassifier() });
    await app.ready();
    await app.models.start();
  });
  afterAll(async () => {
    await app?.close();
  });

  test('is what /config tells the page, and the route takes exactly that many bytes, not one more', async () => {
    // The page refuses a file when `file.size > config.maxUploadBytes` (src/web/main.ts): the same bound.
    expect((await app.inject('/config')).json().maxUploadBytes).toBe(MAX_UPLOAD);
    const pngOf = (bytes: number): Buffer => {
      const data = Buffer.alloc(bytes, 1);
      data.set([0x89, 0x50, 0x4e, 0x47]);
      return data;
    };
    const route = async (bytes: number) => app.inject({ method: 'POST', url: '/predict', ...fileUpload(pngOf(bytes), 'image.png') });
    expect((await route(MAX_UPLOAD)).statusCode).toBe(200);
    const refused = await route(MAX_UPLOAD + 1);
    expect(refused.statusCode).toBe(413);
    expect(refused.json().code).toBe('FILE_TOO_LARGE');
  });
});

describe('the request timeout at shutdown', () => {
  const SIGNAL = 'SIGUSR2';

  /** How long after the signal a server whose close never finishes is made to exit. */
  async function drainDeadline(classifier: FakeClassifier): Promise<number> {
    const app = await buildApp({ loadClassifier: async () => classifier });
    await app.ready();
    await app.models.start();
    const exit = vi.fn<(code: number) => void>();
    vi.useFakeTimers();
    // A close that never finishes: only the fallback ends the process.
    const remove = installShutdownHandlers({ app, close: () => new Promise<void>(() => undefined) }, { signals: [SIGNAL], exit });
    try {
      process.emit(SIGNAL, SIGNAL);
      let waited = 0;
      while (exit.mock.calls.length === 0 && waited < 120_000) {
        vi.advanceTimersByTime(250);
        waited += 250;
      }
      expect(exit).toHaveBeenCalledWith(1);
      return waited;
    } finally {
      remove();
      vi.useRealTimers();
      await app.close();
    }
  }

  test("gives up draining after the loaded classifier's own timeout plus the margin, not the default's", async () => {
    const configured = 1000;
    expect(await drainDeadline(new FakeClassifier({ requestTimeoutMs: configured }))).toBe(configured + DRAIN_MARGIN_MS);
    expect(await drainDeadline(new FakeClassifier({ requestTimeoutMs: 60_000 }))).toBe(60_000 + DRAIN_MARGIN_MS);
  });
});
