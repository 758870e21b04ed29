import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { type ServerHandle, startServer } from '../../src/server/start.js';
import { haveChromium, launchChromium } from '../helpers/browser.js';
import { FakeClassifier } from '../helpers/fake-classifier.js';

const MAX_UPLOAD = 1024 * 1024;

/** `bytes` long, starting with PNG's magic, as the stand-in classifier sniffs it. */
function pngLike(bytes: number): Buffer {
  const data = Buffer.alloc(bytes, 1);
  // The whole PNG signature: the page judges a chosen file by its bytes, as the server does.
  data.set([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  return data;
}

describe.skipIf(!haveChromium)('an oversized upload from Chromium', () => {
  let server: ServerHandle;
  let browser: Browser;

  beforeAll(async () => {
    server = await startServer({
      host: '127.0.0.1',
      port: 0,
      loadClassifier: async () => new FakeClassifier(),
      logger: false,
      maxUploadBytes: MAX_UPLOAD,
    });
    await server.ready;
    browser = await launchChromium();
  });
  afterAll(async () => {
    await browser?.close();
    await server?.close();
  });

  test.each(['fetch', 'xhr'] as const)('%s reads the 413 FILE_TOO_LARGE JSON', async (api) => {
    const page = await browser.newPage();
    try {
      await page.goto(`${server.url}/config`);
      const answer = await page.evaluate(async (which) => {
        const form = new FormData();
        form.append('file', new Blob([new Uint8Array(4 * 1024 * 1024)]), 'big.png');
        if (which === 'fetch') {
          const res = await fetch('/predict', { method: 'POST', body: form });
          return { status: res.status, body: await res.text() };
        }
        return new Promise<{ status: number; body: string }>((resolve) => {
          const xhr = new XMLHttpRequest();
          xhr.open('POST', '/predict');
          xhr.onloadend = () => resolve({ status: xhr.status, body: xhr.responseText });
          xhr.send(form);
        });
      }, api);
      expect(answer.status).toBe(413);
      expect(JSON.parse(answer.body).code).toBe('FILE_TOO_LARGE');
    } finally {
      await page.close();
    }
  });

  // The page's check is `file.size > config.maxUploadBytes` (src/web/main.ts), from GET /config: the route's bound.
  test('the page sends a file of exactly the limit, which is answered with its top-k, and keeps one byte more', async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    const predicts: string[] = [];
    page.on('request', (request) => {
      if (request.url().includes('/predict')) predicts.push(request.url());
    });
    page.on('filechooser', () => undefined);
    const config = page.waitForResponse((res) => res.url().endsWith('/config'));
    await page.goto(server.url);
    const { topK } = (await (await config).json()) as { topK: number };
    // The page has applied /config once its hint names the server's limit, not its built-in 10 MB.
    await expect.poll(() => page.locator('#drop-hint').textContent()).toMatch(/1\sMB/);
    const choose = async (bytes: number): Promise<void> => {
      const [chooser] = await Promise.all([page.waitForEvent('filechooser'), page.click('#drop-zone')]);
      await chooser.setFiles({ name: 'photo.png', mimeType: 'image/png', buffer: pngLike(bytes) });
    };
    try {
      const answered = page.waitForResponse((res) => res.url().includes('/predict'));
      await choose(MAX_UPLOAD);
      expect((await answered).status()).toBe(200);
      await expect.poll(() => page.locator('.prediction').count()).toBe(topK);
      expect(predicts.map((url) => new URL(url).searchParams.get('top'))).toEqual([String(topK)]);

      await choose(MAX_UPLOAD + 1);
      await expect.poll(() => page.locator('#error').textContent()).toMatch(/the limit is/);
      expect(predicts).toHaveLength(1);
    } finally {
      await context.close();
    }
  });
});
