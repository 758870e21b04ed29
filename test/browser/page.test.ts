/**
 * The page in Debian's Chromium (headless) against a real server and the real classifier: choose,
 * keyboard, drop and paste paths, bars and labels, the language toggle, friendly errors, 375 px layout,
 * and no request leaving the server's origin. Screenshots go to test/.tmp/.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { type ServerHandle, startServer } from '../../src/server/start.js';
import { haveChromium, launchChromium } from '../helpers/browser.js';
import { realLoader } from '../helpers/synthetic-model.js';
import { noiseJpeg } from '../helpers/test-images.js';

const repo = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const shots = join(repo, 'test', '.tmp');

interface Prediction {
  label: string;
  label_zh: string;
  probability: number;
}

describe.skipIf(!haveChromium)('the page', () => {
  let server: ServerHandle;
  let browser: Browser;
  let jpeg: Buffer;
  const MAX_UPLOAD = 1024 * 1024;

  beforeAll(async () => {
    execFileSync(process.execPath, [join(repo, 'scripts', 'build-web.mjs')], { stdio: 'inherit' });
    mkdirSync(shots, { recursive: true });
    server = await startServer({ host: '127.0.0.1', port: 0, loadClassifier: realLoader(), logger: false, maxUploadBytes: MAX_UPLOAD });
    await server.ready;
    browser = await launchChromium();
    jpeg = await noiseJpeg(3, 640, 480);
  });
  afterAll(async () => {
    await browser?.close();
    await server?.close();
  });

  /** A fresh page that records every URL it requests. */
  async function openPage(
    options: { locale?: string; width?: number } = {},
  ): Promise<{ page: Page; context: BrowserContext; requested: string[] }> {
    const context = await browser.newContext({
      locale: options.locale ?? 'en-US',
      viewport: { width: options.width ?? 1100, height: 900 },
    });
    const page = await context.newPage();
    const requested: string[] = [];
    page.on('request', (req) => requested.push(req.url()));
    // Playwright turns on file-chooser interception when the first listener is added, asynchronously; a
    // key press racing a fresh waitForEvent could reach Chromium before it. Listening from the start avoids that.
    page.on('filechooser', () => undefined);
    await page.goto(server.url);
    return { page, context, requested };
  }

  async function chooseFile(page: Page, file: { name: string; mimeType: string; buffer: Buffer }): Promise<void> {
    const [chooser] = await Promise.all([page.waitForEvent('filechooser'), page.click('#drop-zone')]);
    await chooser.setFiles(file);
  }

  function offOrigin(requested: string[]): string[] {
    return requested.filter((url) => !url.startsWith(server.url) && !url.startsWith('blob:') && !url.startsWith('data:'));
  }

  test('choosing a photo shows the preview, top-3 labels with bars and percentages, and the latency', async () => {
    const { page, context, requested } = await openPage();
    const response = page.waitForResponse((res) => res.url().includes('/predict'));
    await chooseFile(page, { name: 'photo.jpg', mimeType: 'image/jpeg', buffer: jpeg });
    const body = (await (await response).json()) as { predictions: Prediction[] };
    await page.waitForSelector('.prediction');
    expect(await page.locator('.prediction').count()).toBe(3);
    expect(await page.locator('.prediction .label').allTextContents()).toEqual(body.predictions.map((p) => p.label));
    const percents = await page.locator('.prediction .percent').allTextContents();
    expect(percents[0]).toBe(`${(body.predictions[0]!.probability * 100).toFixed(1)}%`);
    const widths = await page.locator('.bar-fill').evaluateAll((fills) => fills.map((fill) => (fill as HTMLElement).style.width));
    expect(Number.parseFloat(widths[0]!)).toBeCloseTo(body.predictions[0]!.probability * 100, 1);
    expect(await page.locator('.bar').first().getAttribute('role')).toBe('meter');
    expect(await page.locator('#latency').textContent()).toMatch(/Server \d+\sms .* round trip \d+\sms/);
    expect(await page.locator('#preview').getAttribute('src')).toMatch(/^blob:/);
    expect(await page.locator('#result').getAttribute('aria-live')).toBe('polite');
    expect(offOrigin(requested)).toEqual([]);
    await page.screenshot({ path: join(shots, 'page-desktop.png'), fullPage: true });
    await context.close();
  });

  test.each(['Enter', ' '])('the drop zone is a keyboard button: Tab to it, %j opens the chooser', async (key) => {
    const { page, context } = await openPage();
    await page.keyboard.press('Tab');
    await page.keyboard.press('Tab');
    expect(await page.evaluate(() => document.activeElement?.id)).toBe('drop-zone');
    const [chooser] = await Promise.all([page.waitForEvent('filechooser'), page.keyboard.press(key)]);
    await chooser.setFiles({ name: 'photo.jpg', mimeType: 'image/jpeg', buffer: jpeg });
    await page.waitForSelector('.prediction');
    await context.close();
  });

  test('dropping a file and pasting one both classify it', async () => {
    const { page, context } = await openPage();
    const base64 = jpeg.toString('base64');
    await page.evaluate((data) => {
      const bytes = Uint8Array.from(atob(data), (c) => c.charCodeAt(0));
      const transfer = new DataTransfer();
      transfer.items.add(new File([bytes], 'dropped.jpg', { type: 'image/jpeg' }));
      document
        .getElementById('drop-zone')!
        .dispatchEvent(new DragEvent('drop', { dataTransfer: transfer, bubbles: true, cancelable: true }));
    }, base64);
    await page.waitForSelector('.prediction');
    expect(await page.locator('.prediction').count()).toBe(3);

    await page.evaluate(() => document.getElementById('predictions')!.replaceChildren());
    const pasted = page.waitForResponse((res) => res.url().includes('/predict'));
    await page.evaluate((data) => {
      const bytes = Uint8Array.from(atob(data), (c) => c.charCodeAt(0));
      const transfer = new DataTransfer();
      transfer.items.add(new File([bytes], 'image.png', { type: 'image/jpeg' }));
      document.dispatchEvent(new ClipboardEvent('paste', { clipboardData: transfer, bubbles: true, cancelable: true }));
    }, base64);
    expect((await pasted).status()).toBe(200);
    await page.waitForSelector('.prediction');
    await context.close();
  });

  test('the language toggle switches labels to Chinese, and the choice is remembered', async () => {
    const { page, context } = await openPage();
    const response = page.waitForResponse((res) => res.url().includes('/predict'));
    await chooseFile(page, { name: 'photo.jpg', mimeType: 'image/jpeg', buffer: jpeg });
    const body = (await (await response).json()) as { predictions: Prediction[] };
    await page.waitForSelector('.prediction');
    await page.click('#lang-toggle');
    expect(await page.locator('.prediction .label').allTextContents()).toEqual(body.predictions.map((p) => p.label_zh));
    expect(await page.locator('h1').textContent()).toBe('这张照片里有什么？');
    expect(await page.getAttribute('html', 'lang')).toBe('zh-CN');
    expect(await page.locator('#lang-toggle').textContent()).toBe('English');
    await page.reload();
    expect(await page.locator('h1').textContent()).toBe('这张照片里有什么？');
    await context.close();
  });

  test('a Chinese browser gets the Chinese page by default', async () => {
    const { page, context } = await openPage({ locale: 'zh-CN' });
    expect(await page.locator('h1').textContent()).toBe('这张照片里有什么？');
    await context.close();
  });

  test('a .txt file gets a friendly error without an upload', async () => {
    const { page, context, requested } = await openPage();
    await chooseFile(page, { name: 'notes.txt', mimeType: 'text/plain', buffer: Buffer.from('hello') });
    await expect.poll(() => page.locator('#error').isVisible()).toBe(true);
    expect(await page.locator('#error').textContent()).toContain('not an image');
    expect(requested.some((url) => url.includes('/predict'))).toBe(false);
    await context.close();
  });

  test('text disguised as a PNG is refused in the browser by its bytes, as the server would, without an upload', async () => {
    const { page, context, requested } = await openPage();
    await chooseFile(page, { name: 'fake.png', mimeType: 'image/png', buffer: Buffer.from('hello, not really a png') });
    await expect.poll(() => page.locator('#error').textContent()).toContain('not an image');
    expect(requested.some((url) => url.includes('/predict'))).toBe(false);
    expect(await page.locator('#result').isVisible()).toBe(false);
    await context.close();
  });

  test('a PNG named .txt is judged by its bytes too, and classified', async () => {
    const { page, context } = await openPage();
    const png = await sharp(jpeg).png().toBuffer();
    await chooseFile(page, { name: 'notes.txt', mimeType: 'text/plain', buffer: png });
    await page.waitForSelector('.prediction');
    await context.close();
  });

  test('a BMP, which the server recognises but does not decode: its 415 becomes the sentence naming what it reads', async () => {
    const { page, context } = await openPage();
    const response = page.waitForResponse((res) => res.url().includes('/predict'));
    await chooseFile(page, {
      name: 'old.bmp',
      mimeType: 'image/bmp',
      buffer: readFileSync(join(repo, 'test', 'fixtures', 'images', 'bmp-64x48.bmp')),
    });
    expect((await response).status()).toBe(415);
    await expect.poll(() => page.locator('#error').textContent()).toMatch(/Choose a JPEG, PNG/);
    expect(await page.locator('#result').isVisible()).toBe(false);
    await context.close();
  });

  test('a file over the server’s limit is refused in the browser, naming the limit', async () => {
    const { page, context, requested } = await openPage();
    await expect.poll(() => page.locator('#drop-hint').textContent()).toMatch(/1\sMB/);
    await chooseFile(page, { name: 'huge.jpg', mimeType: 'image/jpeg', buffer: Buffer.concat([jpeg, Buffer.alloc(2 * MAX_UPLOAD)]) });
    await expect.poll(() => page.locator('#error').textContent()).toMatch(/the limit is 1\sMB/);
    expect(requested.some((url) => url.includes('/predict'))).toBe(false);
    await context.close();
  });

  test('a busy server (503 QUEUE_FULL) and a network failure get their own messages', async () => {
    const { page, context } = await openPage();
    await page.route('**/predict*', (route) =>
      route.fulfill({
        status: 503,
        headers: { 'retry-after': '3' },
        contentType: 'application/json',
        body: JSON.stringify({ error: 'full', code: 'QUEUE_FULL' }),
      }),
    );
    await chooseFile(page, { name: 'photo.jpg', mimeType: 'image/jpeg', buffer: jpeg });
    await expect.poll(() => page.locator('#error').textContent()).toMatch(/busy\. Try again in 3\ss/);
    await page.unroute('**/predict*');
    await page.route('**/predict*', (route) => route.abort('connectionrefused'));
    await chooseFile(page, { name: 'photo.jpg', mimeType: 'image/jpeg', buffer: jpeg });
    await expect.poll(() => page.locator('#error').textContent()).toContain('Could not reach the server');
    await context.close();
  });

  test('at 375 px wide nothing overflows sideways', async () => {
    const { page, context } = await openPage({ width: 375 });
    await chooseFile(page, { name: 'photo.jpg', mimeType: 'image/jpeg', buffer: jpeg });
    await page.waitForSelector('.prediction');
    expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(375);
    await page.screenshot({ path: join(shots, 'page-375.png'), fullPage: true });
    await page.click('#lang-toggle');
    expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(375);
    await page.screenshot({ path: join(shots, 'page-375-zh.png'), fullPage: true });
    await context.close();
  });

  test('/docs loads Swagger UI without any request off the server', async () => {
    const { page, context, requested } = await openPage();
    await page.goto(`${server.url}/docs/`);
    await page.waitForSelector('.swagger-ui .opblock', { timeout: 15_000 });
    expect(await page.locator('.opblock-summary-path').allTextContents()).toEqual(expect.arrayContaining(['/predict']));
    expect(offOrigin(requested)).toEqual([]);
    await context.close();
  });
});
