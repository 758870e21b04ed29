import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { type ServerHandle, startServer } from '../../src/server/start.js';
import { haveChromium, launchChromium } from '../helpers/browser.js';
import { FakeClassifier } from '../helpers/fake-classifier.js';

describe.skipIf(!haveChromium)('an oversized upload from Chromium', () => {
  let server: ServerHandle;
  let browser: Browser;

  beforeAll(async () => {
    server = await startServer({
      host: '127.0.0.1',
      port: 0,
      loadClassifier: async () => new FakeClassifier(),
      logger: false,
      maxUploadBytes: 1024 * 1024,
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
});
