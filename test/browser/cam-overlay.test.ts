/**
 * "Show where it looked" in Debian's Chromium (headless) against a real server running the trained shapes fixture:
 * the overlay canvas lies exactly on the crop box of the displayed photo, its hottest cell is viridis yellow, the
 * class rows switch the map (mouse and keyboard), the toggle speaks Chinese, and a model without maps hides it.
 * With RESNET_SERVE_UPDATE_SCREENSHOTS=1 docs/explain.md's screenshot (docs/explain-page.png) is remade.
 */
import { mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { ServerHandle } from '../../src/server/start.js';
import { haveChromium, launchChromium } from '../helpers/browser.js';
import { shapesCirclePhoto } from '../helpers/int8-fixture.js';
import { startShapesServer } from '../helpers/shapes-server.js';

const repo = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const shots = join(repo, 'test', '.tmp');

interface Box {
  left: number;
  top: number;
  width: number;
  height: number;
}
interface Answer {
  image: { width: number; height: number };
  predictions: { label: string; cam: number[][]; crop: Box }[];
}

describe.skipIf(!haveChromium)('the page: show where it looked', () => {
  let server: ServerHandle;
  let browser: Browser;
  let photo: Buffer;

  beforeAll(async () => {
    mkdirSync(shots, { recursive: true });
    server = await startShapesServer();
    browser = await launchChromium();
    photo = await shapesCirclePhoto();
  });
  afterAll(async () => {
    await browser?.close();
    await server?.close();
  });

  async function classified(locale = 'en-US'): Promise<{ page: Page; answer: Answer; close(): Promise<void> }> {
    const context = await browser.newContext({ locale, viewport: { width: 1100, height: 800 }, deviceScaleFactor: 1 });
    const page = await context.newPage();
    page.on('filechooser', () => undefined);
    await page.goto(server.url);
    const response = page.waitForResponse((res) => res.url().includes('/predict'));
    const [chooser] = await Promise.all([page.waitForEvent('filechooser'), page.click('#drop-zone')]);
    await chooser.setFiles({ name: 'circle.png', mimeType: 'image/png', buffer: photo });
    const answer = (await (await response).json()) as Answer;
    await page.waitForSelector('.prediction');
    await page.waitForFunction(() => (document.getElementById('preview') as HTMLImageElement).complete);
    return { page, answer, close: () => context.close() };
  }

  /** The canvas's CSS pixels where the crop box of the answer should be drawn over the displayed preview. */
  async function expectedRect(page: Page, answer: Answer, index = 0): Promise<Box> {
    const img = await page.locator('#preview').boundingBox();
    if (img === null) throw new Error('no preview');
    const { width, height } = answer.image;
    const scale = Math.min(img.width / width, img.height / height);
    const crop = answer.predictions[index]?.crop as Box;
    return {
      left: img.x + (img.width - width * scale) / 2 + crop.left * scale,
      top: img.y + (img.height - height * scale) / 2 + crop.top * scale,
      width: crop.width * scale,
      height: crop.height * scale,
    };
  }

  /** RGBA of the canvas at the centre of map cell (row, col). */
  function cellPixel(page: Page, row: number, col: number): Promise<number[]> {
    return page.evaluate(
      ([r, c]) => {
        const canvas = document.getElementById('cam-canvas') as HTMLCanvasElement;
        const x = Math.floor(((c + 0.5) * canvas.width) / 7);
        const y = Math.floor(((r + 0.5) * canvas.height) / 7);
        return Array.from(canvas.getContext('2d')?.getImageData(x, y, 1, 1).data ?? []);
      },
      [row, col] as const,
    );
  }

  const argmax = (cam: number[][]): [number, number] => {
    let best: [number, number] = [0, 0];
    cam.forEach((row, r) => {
      row.forEach((v, c) => {
        if (v > (cam[best[0]]?.[best[1]] ?? -1)) best = [r, c];
      });
    });
    return best;
  };

  test('the toggle draws the map exactly on the crop box, hottest cell in viridis yellow', async () => {
    const { page, answer, close } = await classified();
    expect(answer.image).toEqual({ width: 364, height: 224 });
    const toggle = page.locator('#cam-toggle');
    expect(await toggle.textContent()).toBe('Show where it looked');
    expect(await toggle.getAttribute('aria-pressed')).toBe('false');
    expect(await page.locator('#cam-canvas').isVisible()).toBe(false);

    await toggle.click();
    expect(await toggle.getAttribute('aria-pressed')).toBe('true');
    await expect.poll(() => page.locator('#cam-canvas').isVisible()).toBe(true);
    const rect = await page.locator('#cam-canvas').boundingBox();
    const expected = await expectedRect(page, answer);
    for (const key of ['left', 'top', 'width', 'height'] as const) {
      const actual = key === 'left' ? rect?.x : key === 'top' ? rect?.y : rect?.[key];
      expect(actual, key).toBeCloseTo(expected[key], 0);
    }
    // Canvas pixels match its CSS size at device scale 1.
    const size = await page.locator('#cam-canvas').evaluate((c) => [(c as HTMLCanvasElement).width, (c as HTMLCanvasElement).height]);
    expect(size).toEqual([Math.round(expected.width), Math.round(expected.height)]);

    const [row, col] = argmax(answer.predictions[0]?.cam ?? []);
    const hot = await cellPixel(page, row, col);
    // viridis(1) = (253, 231, 37) at alpha 0.5; the centre of the maximal cell is the map's value there.
    expect(hot[0]).toBeGreaterThan(200);
    expect(hot[1]).toBeGreaterThan(200);
    expect(hot[2]).toBeLessThan(90);
    expect(hot[3]).toBe(128);
    expect(await page.locator('#cam-caption').textContent()).toContain(answer.predictions[0]?.label);
    await page.screenshot({ path: join(shots, 'explain-page.png') });
    if (process.env.RESNET_SERVE_UPDATE_SCREENSHOTS === '1') {
      mkdirSync(join(repo, 'docs'), { recursive: true });
      await page.locator('#result').screenshot({ path: join(repo, 'docs', 'explain-page.png') });
    }
    await close();
  });

  test('clicking or pressing Enter on another class shows that class’s map', async () => {
    const { page, answer, close } = await classified();
    await page.click('#cam-toggle');
    await expect.poll(() => page.locator('#cam-canvas').isVisible()).toBe(true);
    const rows = page.locator('.prediction');
    expect(await rows.nth(0).getAttribute('aria-pressed')).toBe('true');
    const before = await page.locator('#cam-canvas').evaluate((c) => (c as HTMLCanvasElement).toDataURL());

    await rows.nth(1).click();
    expect(await rows.nth(1).getAttribute('aria-pressed')).toBe('true');
    expect(await rows.nth(0).getAttribute('aria-pressed')).toBe('false');
    expect(await page.locator('#cam-caption').textContent()).toContain(answer.predictions[1]?.label);
    const second = await page.locator('#cam-canvas').evaluate((c) => (c as HTMLCanvasElement).toDataURL());
    expect(second).not.toBe(before);
    const [row, col] = argmax(answer.predictions[1]?.cam ?? []);
    expect((await cellPixel(page, row, col))[0]).toBeGreaterThan(200);

    // Keyboard: the rows are buttons in the tab order.
    await rows.nth(2).focus();
    await page.keyboard.press('Enter');
    expect(await rows.nth(2).getAttribute('aria-pressed')).toBe('true');
    expect(await page.locator('#cam-caption').textContent()).toContain(answer.predictions[2]?.label);
    await close();
  });

  test('the toggle is in Chinese on the Chinese page', async () => {
    const { page, close } = await classified('zh-CN');
    expect(await page.locator('#cam-toggle').textContent()).toBe('显示关注区域');
    await close();
  });

  test('a server whose model cannot explain: the page classifies without maps and hides the toggle', async () => {
    const context = await browser.newContext({ viewport: { width: 1100, height: 800 } });
    const page = await context.newPage();
    page.on('filechooser', () => undefined);
    await page.route('**/predict?*explain=true*', (route) =>
      route.fulfill({
        status: 501,
        contentType: 'application/json',
        body: JSON.stringify({ error: 'no maps', code: 'EXPLAIN_UNAVAILABLE' }),
      }),
    );
    await page.goto(server.url);
    const plain = page.waitForResponse((res) => res.url().includes('/predict') && !res.url().includes('explain'));
    const [chooser] = await Promise.all([page.waitForEvent('filechooser'), page.click('#drop-zone')]);
    await chooser.setFiles({ name: 'circle.png', mimeType: 'image/png', buffer: photo });
    expect((await plain).status()).toBe(200);
    await page.waitForSelector('.prediction');
    expect(await page.locator('#cam-toggle').isVisible()).toBe(false);
    expect(await page.locator('#error').isVisible()).toBe(false);
    await context.close();
  });
});
