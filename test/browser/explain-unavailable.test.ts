/**
 * A model whose head is not global-average-pool → linear cannot show where it looked (issue #17): ConvNeXt, whose
 * head normalises the pooled features (LayerNorm2d) before its linear layer. `resnet-serve serve` runs a
 * convnext_tiny state_dict (TorchVision's builder, seeded random weights, made at run time by
 * test/fixtures/make_arch_fixtures.py) as a deployment would, and the page is opened in Debian's Chromium: the
 * server answers `explain=true` with 501 EXPLAIN_UNAVAILABLE, and the page, in English and in Chinese, still shows
 * the classification, says under it that this model cannot show where it looked, and draws no map — whether it
 * learnt that from GET /config or, when /config could not be had, from the server's 501.
 */
import { copyFileSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { makeArchFixtures, readArchFixture } from '../helpers/arch-fixtures.js';
import { haveChromium, launchChromium } from '../helpers/browser.js';
import { CLI, type CliProcess, startCli } from '../helpers/cli-process.js';
import { IN_CI, REFERENCE_PYTHON } from '../helpers/reference-python.js';
import { waitUntilReady } from '../helpers/spawn-server.js';

const DIR = fileURLToPath(new URL('../.tmp/explain-unavailable/', import.meta.url));
const ARCH = 'convnext_tiny';
const PHOTO = readFileSync(fileURLToPath(new URL('../fixtures/images/photo-500x375.jpg', import.meta.url)));
/** src/web/i18n.ts's `camUnavailable`, as a reader sees it. */
const MESSAGE = {
  en: 'This model cannot show where it looked: its last layers do not map back onto the photo.',
  zh: '此模型无法显示关注区域：它的最后几层无法对应回照片。',
} as const;
const LOCALES = [
  { lang: 'en', locale: 'en-US', htmlLang: 'en' },
  { lang: 'zh', locale: 'zh-CN', htmlLang: 'zh-CN' },
] as const;

interface Prediction {
  index: number;
  label: string;
  label_zh: string;
}

interface Opened {
  page: Page;
  /** Every /predict request's query string, in order. */
  predicts: string[];
  /** Console errors and page errors, as they happen. */
  problems: string[];
  close(): Promise<void>;
}

describe.skipIf(!haveChromium || (REFERENCE_PYTHON === undefined && !IN_CI))('the page with a ConvNeXt: no map, and it says so', () => {
  let server: CliProcess;
  let url: string;
  let browser: Browser;
  /** The server's own answer for PHOTO without maps, at the page's top-k: what the page must show. */
  let plain: Prediction[];

  beforeAll(async () => {
    const seconds = await makeArchFixtures([{ arch: ARCH, size: 224 }], DIR);
    console.info(`make_arch_fixtures.py ${ARCH}: ${seconds.toFixed(1)} s`);
    // In a folder of its own, under the name that implies its architecture.
    const weights = join(DIR, 'weights', `${ARCH}.pth`);
    mkdirSync(join(DIR, 'weights'), { recursive: true });
    copyFileSync(join(DIR, readArchFixture(DIR, ARCH).fixture.stateDict ?? `${ARCH}.pth`), weights);
    server = startCli([CLI, 'serve', '--host', '127.0.0.1', '--port', '0', '--weights', weights], {
      PATH: process.env.PATH ?? '',
      RESNET_SERVE_HOME: join(DIR, 'home'),
    });
    url = await server.url;
    await waitUntilReady(url, 120_000);
    const { topK } = (await (await fetch(`${url}/config`)).json()) as { topK: number };
    const answered = await upload(`top=${topK}`);
    expect(answered.status).toBe(200);
    plain = ((await answered.json()) as { predictions: Prediction[] }).predictions;
    browser = await launchChromium();
  }, 600_000);
  afterAll(async () => {
    await browser?.close();
    if (server !== undefined && server.child.exitCode === null) {
      server.child.kill('SIGTERM');
      const timer = setTimeout(() => server.child.kill('SIGKILL'), 15_000);
      await server.exited;
      clearTimeout(timer);
    }
    rmSync(DIR, { recursive: true, force: true });
  }, 60_000);

  function upload(query: string): Promise<Response> {
    const body = new FormData();
    body.append('file', new Blob([PHOTO], { type: 'image/jpeg' }), 'photo.jpg');
    return fetch(`${url}/predict?${query}`, { method: 'POST', body });
  }

  test('the server says so: /config beforehand, and 501 EXPLAIN_UNAVAILABLE for explain=true, while plain requests answer', async () => {
    const config = (await (await fetch(`${url}/config`)).json()) as {
      topK: number;
      model: { architecture: string; explain: { available: boolean; reason: string } };
    };
    expect(config.model.architecture).toBe(ARCH);
    expect(config.model.explain.available).toBe(false);
    expect(config.model.explain.reason).toMatch(/LayerNorm2d/);

    const explained = await upload(`top=${config.topK}&explain=true`);
    expect(explained.status).toBe(501);
    const refusal = (await explained.json()) as { code: string; error: string; details: { reason: string } };
    expect(refusal.code).toBe('EXPLAIN_UNAVAILABLE');
    expect(refusal.error).toBe(`This model cannot show where it looked: ${config.model.explain.reason}.`);
    expect(refusal.details.reason).toBe(config.model.explain.reason);

    const answered = await upload(`top=${config.topK}`);
    expect(answered.status).toBe(200);
    const body = (await answered.json()) as { model: string; predictions: Prediction[] };
    expect(body.model).toMatch(new RegExp(`^${ARCH}-[0-9a-f]{8}$`));
    expect(body.predictions.map((p) => p.index)).toEqual(plain.map((p) => p.index));
    expect(new Set(plain.map((p) => p.index)).size).toBe(config.topK);
  });

  async function open(locale: string, options: { withoutConfig?: boolean } = {}): Promise<Opened> {
    const context = await browser.newContext({ locale, viewport: { width: 1100, height: 800 }, deviceScaleFactor: 1 });
    const page = await context.newPage();
    const predicts: string[] = [];
    const problems: string[] = [];
    page.on('request', (request) => {
      const { pathname, search } = new URL(request.url());
      if (pathname === '/predict') predicts.push(search);
    });
    page.on('console', (message) => {
      if (message.type() === 'error') problems.push(`console: ${message.text()}`);
    });
    page.on('pageerror', (error) => problems.push(`pageerror: ${error.message}`));
    page.on('filechooser', () => undefined);
    // A server whose /config does not answer: the page falls back on its defaults, which assume maps.
    if (options.withoutConfig === true) await page.route(`${url}/config`, (route) => route.fulfill({ status: 503, body: '' }));
    await page.goto(url);
    return { page, predicts, problems, close: () => context.close() };
  }

  /** Chooses PHOTO and waits for the answer the page shows (a 200 from /predict) and its preview. */
  async function classify(page: Page): Promise<void> {
    const answered = page.waitForResponse((res) => new URL(res.url()).pathname === '/predict' && res.status() === 200, { timeout: 30_000 });
    const [chooser] = await Promise.all([page.waitForEvent('filechooser'), page.click('#drop-zone')]);
    await chooser.setFiles({ name: 'photo.jpg', mimeType: 'image/jpeg', buffer: PHOTO });
    await answered;
    await page.waitForSelector('.prediction', { timeout: 30_000 });
    await page.waitForFunction(() => (document.getElementById('preview') as HTMLImageElement).complete);
  }

  /** The classification is on the page in `lang`, the caption says there is no map, and none is drawn. */
  async function expectClassifiedWithoutMap(page: Page, lang: 'en' | 'zh'): Promise<void> {
    const labels = await page.locator('.prediction .label').allTextContents();
    expect(labels).toEqual(plain.map((p) => (lang === 'zh' ? p.label_zh : p.label)));
    expect(await page.locator('.prediction .label-other').allTextContents()).toEqual(
      plain.map((p) => (lang === 'zh' ? p.label : p.label_zh)),
    );
    expect(await page.locator('#preview').isVisible()).toBe(true);
    expect(await page.locator('#error').isVisible()).toBe(false);

    await expect.poll(() => page.locator('#cam-caption').isVisible()).toBe(true);
    expect(await page.locator('#cam-caption').textContent()).toBe(MESSAGE[lang]);
    // No toggle to ask for a map, no map over the photo, and the rows are not map selectors.
    expect(await page.locator('#cam-toggle').isVisible()).toBe(false);
    expect(await page.locator('#cam-canvas').isVisible()).toBe(false);
    const painted = await page.locator('#cam-canvas').evaluate((node) => {
      const canvas = node as HTMLCanvasElement;
      const pixels = canvas.getContext('2d')?.getImageData(0, 0, canvas.width, canvas.height).data ?? new Uint8ClampedArray(4);
      let alpha = 0;
      for (let i = 3; i < pixels.length; i += 4) alpha = Math.max(alpha, pixels[i] as number);
      return alpha;
    });
    expect(painted, 'the highest alpha on the map canvas').toBe(0);
    expect(await page.locator('.prediction[role=button]').count()).toBe(0);
  }

  describe.each(LOCALES)('in $lang', ({ lang, locale, htmlLang }) => {
    test('the classification shows, the caption says this model cannot show where it looked, and no map is asked for or drawn', async () => {
      const { page, predicts, problems, close } = await open(locale);
      expect(await page.getAttribute('html', 'lang')).toBe(htmlLang);
      await classify(page);
      await expectClassifiedWithoutMap(page, lang);
      // /config said so before the photo: the page never asked for maps.
      expect(predicts).toHaveLength(1);
      expect(predicts[0]).not.toContain('explain');
      expect(problems).toEqual([]);
      await close();
    });

    test('without /config, the server’s 501 tells the page: it asks again without maps, and says so', async () => {
      const { page, predicts, problems, close } = await open(locale, { withoutConfig: true });
      await classify(page);
      await expectClassifiedWithoutMap(page, lang);
      expect(predicts).toHaveLength(2);
      expect(predicts[0]).toContain('explain=true');
      expect(predicts[1]).not.toContain('explain');
      // A second photo is not asked with maps again.
      await classify(page);
      expect(predicts).toHaveLength(3);
      expect(predicts[2]).not.toContain('explain');
      await expectClassifiedWithoutMap(page, lang);
      // The 503 of /config and the 501 of the first /predict, as Chromium logs failed loads; nothing else.
      expect(problems.filter((p) => !/status of 50[13]/.test(p))).toEqual([]);
      await close();
    });
  });

  test('switching the language on the answer rewords the caption without a new request', async () => {
    const { page, predicts, close } = await open('en-US');
    await classify(page);
    await expectClassifiedWithoutMap(page, 'en');
    await page.click('#lang-toggle');
    expect(await page.getAttribute('html', 'lang')).toBe('zh-CN');
    await expectClassifiedWithoutMap(page, 'zh');
    await page.click('#lang-toggle');
    await expectClassifiedWithoutMap(page, 'en');
    expect(predicts).toHaveLength(1);
    await close();
  });
});
