// The page's on-device mode in Debian's Chromium (headless), as JSON on stdout (bench/run.mjs reads it):
// model download + session start on a first visit, then per-image inference as the page reports it
// (#latency, whole milliseconds), cross-origin isolated (ORT threads) and not (one thread).
//
// Run: npm run build && node bench/on-device.mjs --model M [--precision fp32|int8] [--runs 10] IMAGE...
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { basename } from 'node:path';
import { parseArgs } from 'node:util';
import { chromium } from 'playwright-core';
import { createClassifier } from '../dist/index.js';
import { startServer } from '../dist/server/start.js';

const CHROMIUM = '/usr/bin/chromium';
const { values, positionals } = parseArgs({
  options: { model: { type: 'string' }, precision: { type: 'string', default: 'fp32' }, runs: { type: 'string', default: '10' } },
  allowPositionals: true,
});
if (values.model === undefined || positionals.length === 0) throw new Error('usage: on-device.mjs --model M [--runs N] IMAGE...');
if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing (apt-get install -y chromium)`);
const runs = Number(values.runs);
const images = await Promise.all(positionals.map(async (path) => ({ name: basename(path), bytes: await readFile(path) })));

const server = await startServer({
  host: '127.0.0.1',
  port: 0,
  logger: false,
  // The server's classifier is loaded as in production but never asked: nothing is posted in this mode.
  loadClassifier: ({ observer }) => createClassifier({ model: values.model, precision: values.precision, threads: 1, observer }),
  onDevice: { model: values.model, precision: values.precision },
});
const browser = await chromium.launch({
  executablePath: CHROMIUM,
  headless: true,
  args: [
    '--no-sandbox',
    '--disable-gpu',
    '--disable-background-networking',
    '--disable-component-update',
    '--disable-sync',
    '--no-first-run',
  ],
});

/** A fresh context (empty caches); `isolated: false` strips COOP/COEP so ORT runs one thread. */
async function session(isolated) {
  const context = await browser.newContext();
  if (!isolated) {
    await context.route(`${server.url}/**`, async (route) => {
      const response = await route.fetch();
      const headers = { ...response.headers() };
      delete headers['cross-origin-opener-policy'];
      delete headers['cross-origin-embedder-policy'];
      await route.fulfill({ response, headers });
    });
  }
  const page = await context.newPage();
  page.on('filechooser', () => undefined);
  await page.goto(server.url);
  const t0 = performance.now();
  await page.check('#on-device-toggle');
  await page.waitForFunction(
    () => /Photos stay on this device/.test(document.getElementById('on-device-status')?.textContent ?? ''),
    null,
    { timeout: 300_000 },
  );
  const startMs = performance.now() - t0;
  const threads = Number(/(\d+) thread/.exec((await page.locator('#on-device-status').textContent()) ?? '')?.[1]);
  // Main-thread tasks over 50 ms while classifying: the page must stay responsive (the work is in a worker).
  await page.evaluate(() => {
    globalThis.longTasks = [];
    new PerformanceObserver((list) => globalThis.longTasks.push(...list.getEntries().map((e) => e.duration))).observe({ type: 'longtask' });
  });
  const inferenceMs = {};
  for (const image of images) {
    inferenceMs[image.name] = [];
    for (let i = -1; i < runs; i++) {
      await page.evaluate(() => document.getElementById('predictions')?.replaceChildren());
      const [chooser] = await Promise.all([page.waitForEvent('filechooser'), page.click('#drop-zone')]);
      await chooser.setFiles({ name: image.name, mimeType: image.name.endsWith('.png') ? 'image/png' : 'image/jpeg', buffer: image.bytes });
      await page.waitForSelector('.prediction', { timeout: 120_000 });
      const text = (await page.locator('#latency').textContent()) ?? '';
      const [, total, decode, inference] = /(\d+)\s?ms \(decode (\d+)\s?ms, inference (\d+)/.exec(text) ?? [];
      if (i >= 0) inferenceMs[image.name].push({ total: Number(total), decode: Number(decode), inference: Number(inference) });
    }
  }
  const longTasksMs = await page.evaluate(() => globalThis.longTasks);
  await context.close();
  return { startMs, threads, inferenceMs, longTasksMs };
}

try {
  const isolated = await session(true);
  const single = await session(false);
  process.stdout.write(JSON.stringify({ runtime: `Chromium ${browser.version()}`, isolated, single }));
} finally {
  await browser.close();
  await server.close();
}
