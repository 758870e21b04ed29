/**
 * The page keeps the server's limits as GET /config publishes them: a file of exactly `maxUploadBytes` is sent and
 * answered, one byte more is refused in the browser without a request; the `top` it asks for is the server's.
 */
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { type ServerHandle, startServer } from '../../src/server/start.js';
import { haveChromium, launchChromium } from '../helpers/browser.js';
import { FakeClassifier } from '../helpers/fake-classifier.js';

const MAX_UPLOAD = 8192;
const TOP_K = 5;

/** `bytes` long, starting with PNG's magic, as the stand-in classifier sniffs it. */
function pngLike(bytes: number): Buffer {
  const data = Buffer.alloc(bytes, 1);
  data.set([0x89, 0x50, 0x4e, 0x47]);
  return data;
}

describe.skipIf(!haveChromium)('the page and the server agree on the limits', () => {
  let server: ServerHandle;
  let browser: Browser;

  beforeAll(async () => {
    server = await startServer({
      host: '127.0.0.1',
      port: 0,
      logger: false,
      maxUploadBytes: MAX_UPLOAD,
      topK: TOP_K,
      loadClassifier: async () => new FakeClassifier(),
    });
    await server.ready;
    browser = await launchChromium();
  });
  afterAll(async () => {
    await browser?.close();
    await server?.close();
  });

  test('a file of exactly the upload limit is sent and answered with the top-k; one byte more never leaves the page', async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    const predicts: string[] = [];
    page.on('request', (request) => {
      if (request.url().includes('/predict')) predicts.push(request.url());
    });
    page.on('filechooser', () => undefined);
    await page.goto(server.url);
    await page.waitForResponse((res) => res.url().endsWith('/config'));
    const choose = async (bytes: number): Promise<void> => {
      const [chooser] = await Promise.all([page.waitForEvent('filechooser'), page.click('#drop-zone')]);
      await chooser.setFiles({ name: 'photo.png', mimeType: 'image/png', buffer: pngLike(bytes) });
    };
    try {
      const answered = page.waitForResponse((res) => res.url().includes('/predict'));
      await choose(MAX_UPLOAD);
      expect((await answered).status()).toBe(200);
      await expect.poll(() => page.locator('.prediction').count()).toBe(TOP_K);
      expect(predicts).toHaveLength(1);
      expect(new URL(predicts[0] ?? '').searchParams.get('top')).toBe(String(TOP_K));

      await choose(MAX_UPLOAD + 1);
      await expect.poll(() => page.locator('#error').textContent()).toMatch(/the limit is/);
      expect(predicts).toHaveLength(1);
    } finally {
      await context.close();
    }
  });
});
