/**
 * The page has no broken states (issue 18), in Debian's Chromium at a desktop size and at 390×844 (a phone, touch),
 * against a real server running the trained shapes fixture and offering it on-device: a refused file leaves no
 * card and gets the server's words in both modes; the photo and its map span the card and the caption is one
 * line on a desktop; the answer is scrolled into view on a phone; on-device mode words the page for itself and
 * shows where it looked; and no console error or CSP violation happens on the page or on /docs.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { ServerHandle } from '../../src/server/start.js';
import { haveChromium, launchChromium } from '../helpers/browser.js';
import { shapesCirclePhoto } from '../helpers/int8-fixture.js';
import { startShapesServer } from '../helpers/shapes-server.js';

const repo = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const shots = join(repo, 'test', '.tmp');
const fixture = (name: string): Buffer => readFileSync(join(repo, 'test', 'fixtures', 'images', name));

/** The two sizes a user sees the page at. */
const SIZES = {
  desktop: { viewport: { width: 1280, height: 900 } },
  phone: { viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true },
} as const;
type Size = keyof typeof SIZES;
const BOTH: Size[] = ['desktop', 'phone'];

/**
 * Where the model looks in that photo (torchvision's Resize(256) + CenterCrop(224)): resized to 416 × 256, cropped
 * at x 96..320, i.e. 84..280 of the 364 photo pixels (× 364 / 416).
 */
const CROP = { left: 84, width: 196 };

interface Opened {
  page: Page;
  context: BrowserContext;
  requested: string[];
  /** Console errors (the page's and its workers'), page errors and CSP violations, as they happen. */
  problems: string[];
}

describe.skipIf(!haveChromium)('the page has no broken states', () => {
  let server: ServerHandle;
  let browser: Browser;
  let photo: Buffer;

  beforeAll(async () => {
    execFileSync(process.execPath, [join(repo, 'scripts', 'build-web.mjs'), '--no-check'], { stdio: 'inherit' });
    mkdirSync(shots, { recursive: true });
    server = await startShapesServer({ onDevice: true });
    browser = await launchChromium();
    photo = await shapesCirclePhoto();
  });
  afterAll(async () => {
    await browser?.close();
    await server?.close();
  });

  async function open(size: Size, options: { onDevice?: boolean; path?: string } = {}): Promise<Opened> {
    const context = await browser.newContext({ locale: 'en-US', deviceScaleFactor: 1, ...SIZES[size] });
    const requested: string[] = [];
    const problems: string[] = [];
    context.on('request', (request) => requested.push(request.url()));
    const page = await context.newPage();
    page.on('console', (message) => {
      if (message.type() === 'error') problems.push(`console: ${message.text()}`);
    });
    page.on('pageerror', (error) => problems.push(`pageerror: ${error.message}`));
    // Init scripts run outside the page's CSP; the event reports what the policy refused, with where.
    await page.exposeFunction('reportViolation', (text: string) => problems.push(`csp: ${text}`));
    await page.addInitScript(() => {
      document.addEventListener('securitypolicyviolation', (event) => {
        const report = (window as unknown as { reportViolation(text: string): void }).reportViolation;
        report(`${event.violatedDirective} ${event.blockedURI} ${event.sourceFile}:${event.lineNumber}`);
      });
    });
    page.on('filechooser', () => undefined);
    await page.goto(`${server.url}${options.path ?? '/'}`);
    if (options.onDevice === true) {
      await page.waitForSelector('#on-device:not([hidden])');
      await page.check('#on-device-toggle');
      await expect.poll(() => page.locator('#on-device-status').textContent(), { timeout: 60_000 }).toMatch(/Photos stay on this device/);
    }
    return { page, context, requested, problems };
  }

  async function choose(page: Page, file: { name: string; mimeType: string; buffer: Buffer }): Promise<void> {
    const [chooser] = await Promise.all([page.waitForEvent('filechooser'), page.click('#drop-zone')]);
    await chooser.setFiles(file);
  }

  async function classifyCircle(page: Page): Promise<void> {
    await choose(page, { name: 'circle.png', mimeType: 'image/png', buffer: photo });
    await page.waitForSelector('.prediction', { timeout: 30_000 });
    await page.waitForFunction(() => (document.getElementById('preview') as HTMLImageElement).complete);
  }

  /** The refused file's message, with no card (and so no broken-image icon) anywhere on the page. */
  async function expectRefusedWithoutCard(page: Page, message: RegExp): Promise<void> {
    await expect.poll(() => page.locator('#error').isVisible(), { timeout: 30_000 }).toBe(true);
    expect(await page.locator('#error').textContent()).toMatch(message);
    expect(await page.locator('#result').isVisible()).toBe(false);
    expect(await page.locator('#preview').isVisible()).toBe(false);
    expect(await page.locator('.prediction').count()).toBe(0);
  }

  const uploads = (requested: string[]): string[] => requested.filter((url) => new URL(url).pathname === '/predict');

  describe.each(BOTH)('at %s size', (size) => {
    test.each([false, true])('a text file named .jpg: “not an image”, no card, no upload (on-device %s)', async (onDevice) => {
      const { page, context, requested, problems } = await open(size, { onDevice });
      await choose(page, { name: 'notes.jpg', mimeType: 'image/jpeg', buffer: fixture('text.jpg') });
      await expectRefusedWithoutCard(page, /not an image/);
      expect(uploads(requested)).toEqual([]);
      // After a good photo, a refused one takes the card away again.
      await classifyCircle(page);
      expect(await page.locator('#result').isVisible()).toBe(true);
      await choose(page, { name: 'notes.jpg', mimeType: 'image/jpeg', buffer: fixture('text.jpg') });
      await expectRefusedWithoutCard(page, /not an image/);
      expect(problems).toEqual([]);
      await context.close();
    });

    test.each([false, true])('a JPEG cut short in its header: “damaged or cut short”, no card (on-device %s)', async (onDevice) => {
      const { page, context, requested } = await open(size, { onDevice });
      await choose(page, { name: 'truncated.jpg', mimeType: 'image/jpeg', buffer: fixture('truncated.jpg').subarray(0, 600) });
      await expectRefusedWithoutCard(page, /damaged or cut short/);
      // The server judged it (422 IMAGE_CORRUPT), or, on this device, the browser did and nothing was sent.
      expect(uploads(requested)).toHaveLength(onDevice ? 0 : 1);
      await context.close();
    });

    test('on-device, a TIFF (which Chromium cannot open) is named for what it is, not “damaged”', async () => {
      const { page, context, requested } = await open(size, { onDevice: true });
      await choose(page, { name: 'photo.tiff', mimeType: 'image/tiff', buffer: fixture('photo-160x140.tiff') });
      await expectRefusedWithoutCard(page, /^This browser cannot open TIFF images\. Turn the switch off/);
      expect(uploads(requested)).toEqual([]);
      await context.close();
    });

    test('a TIFF on the server is classified, and the card shows no broken preview or a toggle without a photo', async () => {
      const { page, context, problems } = await open(size);
      await choose(page, { name: 'photo.tiff', mimeType: 'image/tiff', buffer: fixture('photo-160x140.tiff') });
      await page.waitForSelector('.prediction');
      await expect.poll(() => page.locator('#preview').isVisible()).toBe(false);
      expect(await page.locator('#cam-toggle').isVisible()).toBe(false);
      expect(problems).toEqual([]);
      await context.close();
    });
  });

  test('desktop: the photo and its map span the card, the caption is one line, the whole card is in view', async () => {
    const { page, context, problems } = await open('desktop');
    await classifyCircle(page);
    await page.click('#cam-toggle');
    await expect.poll(() => page.locator('#cam-canvas').isVisible()).toBe(true);
    const geometry = await page.evaluate(() => {
      const box = (id: string): DOMRect => document.getElementById(id)!.getBoundingClientRect();
      const card = document.getElementById('result')!;
      const style = getComputedStyle(card);
      const content = card.clientWidth - Number.parseFloat(style.paddingLeft) - Number.parseFloat(style.paddingRight);
      const caption = document.getElementById('cam-caption')!;
      return {
        content,
        preview: box('preview').width,
        canvas: box('cam-canvas'),
        captionLines: Math.round(caption.getBoundingClientRect().height / Number.parseFloat(getComputedStyle(caption).lineHeight)),
      };
    });
    expect(geometry.preview).toBeCloseTo(geometry.content, 0);
    // The 364 × 224 photo fills the card's width; Resize(256) makes it 416 × 256, so the 224 crop is 196 photo px.
    expect(geometry.canvas.width).toBeCloseTo((CROP.width * geometry.content) / 364, 0);
    expect(geometry.canvas.width).toBeGreaterThan(300);
    expect(geometry.captionLines).toBe(1);
    // Scrolled so that the answer, photo and guesses alike, is on the screen.
    // Polled as the distance below the window's edge, so a failure says by how much (and the card's height).
    await expect
      .poll(() =>
        page.evaluate(() => {
          const box = document.getElementById('result')!.getBoundingClientRect();
          return { below: Math.max(0, Math.round(box.bottom - innerHeight)), fits: box.height <= innerHeight, height: box.height };
        }),
      )
      .toMatchObject({ below: 0, fits: true });
    expect(await page.evaluate(() => document.getElementById('result')!.getBoundingClientRect().top)).toBeGreaterThanOrEqual(0);
    expect(problems).toEqual([]);
    await page.screenshot({ path: join(shots, 'page-states-desktop.png') });
    await context.close();
  });

  test('phone: the answer is scrolled into view, the first guess well above the bottom edge, nothing overflows', async () => {
    const { page, context, problems } = await open('phone');
    await classifyCircle(page);
    await page.click('#cam-toggle');
    await expect.poll(() => page.locator('#cam-canvas').isVisible()).toBe(true);
    await expect
      .poll(() => page.evaluate(() => document.querySelector('.prediction')!.getBoundingClientRect().bottom))
      .toBeLessThan(844 - 100);
    expect(await page.evaluate(() => window.scrollY)).toBeGreaterThan(0);
    expect(await page.evaluate(() => document.getElementById('preview')!.getBoundingClientRect().top)).toBeGreaterThanOrEqual(0);
    expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(390);
    expect(problems).toEqual([]);
    await page.screenshot({ path: join(shots, 'page-states-phone.png') });
    await context.close();
  });

  test.each(BOTH)('%s, on-device: the page words itself for this device, and back for the server', async (size) => {
    const { page, context } = await open(size, { onDevice: true });
    expect(await page.locator('.subtitle').textContent()).toMatch(/never leaves this device/);
    expect(await page.locator('.subtitle').textContent()).not.toMatch(/server/);
    expect(await page.locator('#drop-hint').textContent()).toMatch(/nothing is uploaded/);
    expect(await page.locator('#drop-hint').textContent()).not.toMatch(/MB/);
    await page.click('#lang-toggle');
    expect(await page.locator('.subtitle').textContent()).toMatch(/不会离开本设备/);
    await page.click('#lang-toggle');
    await page.uncheck('#on-device-toggle');
    expect(await page.locator('.subtitle').textContent()).toMatch(/stays on this server/);
    expect(await page.locator('#drop-hint').textContent()).toMatch(/up to 10\sMB/);
    // A remembered switch words the page as soon as it loads.
    await page.check('#on-device-toggle');
    await page.reload();
    await expect.poll(() => page.locator('.subtitle').textContent()).toMatch(/never leaves this device/);
    await context.close();
  });

  test.each(BOTH)('%s, on-device: a photo larger than the server’s upload limit is classified here', async (size) => {
    const { page, context, requested } = await open(size, { onDevice: true });
    // The PNG's own bytes, then 11 MB the decoder never reads (after IEND), over the 10 MB the server takes.
    await choose(page, { name: 'big.png', mimeType: 'image/png', buffer: Buffer.concat([photo, Buffer.alloc(11 * 1024 * 1024)]) });
    await page.waitForSelector('.prediction', { timeout: 30_000 });
    expect(await page.locator('#error').isVisible()).toBe(false);
    expect(uploads(requested)).toEqual([]);
    await context.close();
  });

  test.each(BOTH)('%s, on-device: “Show where it looked” draws the worker’s map on the crop box', async (size) => {
    const { page, context, requested, problems } = await open(size, { onDevice: true });
    await classifyCircle(page);
    const toggle = page.locator('#cam-toggle');
    await expect.poll(() => toggle.isVisible()).toBe(true);
    await toggle.click();
    await expect.poll(() => page.locator('#cam-canvas').isVisible()).toBe(true);
    const [img, canvas] = await Promise.all([page.locator('#preview').boundingBox(), page.locator('#cam-canvas').boundingBox()]);
    const scale = img!.width / 364;
    expect(canvas!.width).toBeCloseTo(CROP.width * scale, 0);
    expect(canvas!.x - img!.x).toBeCloseTo(CROP.left * scale, 0);
    expect(await page.locator('#cam-caption').textContent()).toMatch(/^Yellow: the strongest evidence for “.+”\./);
    await page.locator('.prediction').nth(1).click();
    expect(await page.locator('.prediction').nth(1).getAttribute('aria-pressed')).toBe('true');
    expect(uploads(requested)).toEqual([]);
    expect(problems).toEqual([]);
    await page.screenshot({ path: join(shots, `page-states-on-device-${size}.png`) });
    await context.close();
  });

  test('no console error or CSP violation: server mode with its map, on-device mode with its map, and /docs', async () => {
    for (const size of BOTH) {
      for (const onDevice of [false, true]) {
        const { page, context, problems } = await open(size, { onDevice });
        await classifyCircle(page);
        await page.click('#cam-toggle');
        await expect.poll(() => page.locator('#cam-canvas').isVisible()).toBe(true);
        await page.click('#lang-toggle');
        // The favicon is the page's own file, which its policy allows.
        expect(await page.evaluate(async () => (await fetch(document.querySelector<HTMLLinkElement>('link[rel=icon]')!.href)).status)).toBe(
          200,
        );
        expect({ size, onDevice, problems }).toEqual({ size, onDevice, problems: [] });
        await context.close();
      }
    }
    const docs = await open('desktop', { path: '/docs/' });
    await docs.page.waitForSelector('.swagger-ui .opblock', { timeout: 15_000 });
    // An operation opened and tried: its selects draw swagger-ui.css's data: images.
    await docs.page.locator('.opblock-summary', { hasText: '/predict' }).first().click();
    await docs.page.locator('button.try-out__btn').first().click();
    await docs.page.waitForSelector('.swagger-ui select');
    expect(docs.problems).toEqual([]);
    await docs.context.close();
  });
});
