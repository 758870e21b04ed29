/**
 * The page with several models served: a picker names each (and its size), the answer says which model gave it,
 * the maps follow the picked model's ability to give them, the choice is remembered, and the on-device mode
 * downloads the model picked.
 */
import { execFileSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { createClassifier } from '../../src/classifier/index.js';
import { convertToOnnx } from '../../src/model/architectures/resnet.js';
import { type ServerHandle, startServer } from '../../src/server/start.js';
import { haveChromium, launchChromium } from '../helpers/browser.js';
import { postImage } from '../helpers/http.js';
import { syntheticModel } from '../helpers/synthetic-model.js';
import { syntheticResNet18StateDict } from '../helpers/synthetic-weights.js';
import { noiseJpeg } from '../helpers/test-images.js';

const repo = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

describe.skipIf(!haveChromium)('the model picker', () => {
  let server: ServerHandle;
  let browser: Browser;
  let jpeg: Buffer;
  const files: Record<string, Uint8Array> = {};

  beforeAll(async () => {
    execFileSync(process.execPath, [join(repo, 'scripts', 'build-web.mjs')], { stdio: 'inherit' });
    files.alpha = syntheticModel();
    files.beta = convertToOnnx(syntheticResNet18StateDict(777));
    server = await startServer({
      host: '127.0.0.1',
      port: 0,
      logger: false,
      models: ['alpha', 'beta'].map((name) => ({
        name,
        bytes: files[name]?.byteLength,
        onDevice: { model: files[name] ?? new Uint8Array() },
        loadClassifier: ({ observer, maxPixels }) => createClassifier({ model: files[name] ?? '', threads: 1, maxPixels, observer }),
      })),
      defaultModel: 'beta',
    });
    await server.ready;
    browser = await launchChromium();
    jpeg = await noiseJpeg(5, 320, 240);
  }, 120_000);
  afterAll(async () => {
    await browser?.close();
    await server?.close();
  });

  async function answerOf(model: string): Promise<{ model: string; predictions: { label: string }[] }> {
    return (await postImage(server.url, jpeg, { query: `?model=${model}` })).json as { model: string; predictions: { label: string }[] };
  }

  /** Chooses the photo and waits for the answer of the model `id` (the last answer may still be on the card). */
  async function classify(page: Page, id: string): Promise<string[]> {
    const [chooser] = await Promise.all([page.waitForEvent('filechooser'), page.click('#drop-zone')]);
    await chooser.setFiles({ name: 'photo.jpg', mimeType: 'image/jpeg', buffer: jpeg });
    await page.locator('#answered-by').filter({ hasText: id }).waitFor();
    return page.locator('#predictions .label').allTextContents();
  }

  test('lists every model, starts on the default, answers with the model picked and names it; remembered on reload', async () => {
    const context = await browser.newContext({ locale: 'en-US' });
    const page = await context.newPage();
    const predicts: string[] = [];
    page.on('request', (request) => {
      if (request.url().includes('/predict')) predicts.push(new URL(request.url()).searchParams.get('model') ?? '');
    });
    page.on('filechooser', () => undefined);
    await page.goto(server.url);
    await page.locator('#model-picker').waitFor({ state: 'visible' });
    const options = await page.locator('#model-select option').allTextContents();
    expect(options).toHaveLength(2);
    expect(options[0]).toMatch(/^alpha · \d+(\.\d)?\sMB$/);
    expect(options[1]).toMatch(/^beta · /);
    expect(await page.locator('#model-select').inputValue()).toBe('beta');

    const alpha = await answerOf('alpha');
    const beta = await answerOf('beta');
    expect(alpha.model).not.toBe(beta.model);
    expect(await classify(page, beta.model)).toEqual(beta.predictions.map((p) => p.label));
    expect(await page.locator('#answered-by').textContent()).toBe(`Answered by ${beta.model} (fp32)`);

    await page.selectOption('#model-select', 'alpha');
    expect(await classify(page, alpha.model)).toEqual(alpha.predictions.map((p) => p.label));
    expect(predicts).toEqual(['beta', 'alpha']);

    await page.reload();
    await page.locator('#model-picker').waitFor({ state: 'visible' });
    expect(await page.locator('#model-select').inputValue()).toBe('alpha');
    await context.close();
  }, 60_000);

  test('in Chinese, the picker is labelled so', async () => {
    const context = await browser.newContext({ locale: 'zh-CN' });
    const page = await context.newPage();
    await page.goto(server.url);
    await page.locator('#model-picker').waitFor({ state: 'visible' });
    expect(await page.locator('#model-picker span').textContent()).toBe('模型');
    await context.close();
  });

  test('the on-device mode downloads the model picked, and its answers name it', async () => {
    const context = await browser.newContext({ locale: 'en-US' });
    const page = await context.newPage();
    const downloads: string[] = [];
    page.on('request', (request) => {
      if (request.url().includes('/on-device/model/')) downloads.push(request.url());
    });
    page.on('filechooser', () => undefined);
    await page.goto(server.url);
    await page.locator('#model-picker').waitFor({ state: 'visible' });
    await page.selectOption('#model-select', 'alpha');
    const manifest = (await (await fetch(`${server.url}/on-device?model=alpha`)).json()) as { model: { url: string; id: string } };
    await page.locator('#on-device').waitFor({ state: 'visible' });
    await page.locator('#on-device-toggle').check();
    await expect.poll(() => downloads.some((url) => url.endsWith(manifest.model.url)), { timeout: 30_000 }).toBe(true);
    await classify(page, manifest.model.id);
    expect(await page.locator('#answered-by').textContent()).toBe(`Answered by ${manifest.model.id} (fp32)`);
    expect(downloads.every((url) => url.endsWith(manifest.model.url))).toBe(true);
    await context.close();
  }, 120_000);
});
