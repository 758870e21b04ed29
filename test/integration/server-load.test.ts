/**
 * Load on a server in its own process (real classifier, synthetic full-width ResNet-18): 64 clients at
 * once get the answers they get alone, memory stays bounded, /healthz answers while the queue is full,
 * and a bounded soak of mixed good and bad uploads gets the right status every time. The measured
 * figures are printed (search the output for "[load]").
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { type HttpAnswer, postImage } from '../helpers/http.js';
import { type ChildServer, spawnServer, waitUntilReady } from '../helpers/spawn-server.js';
import { noiseJpeg, noisePng, pngDeclaring, truncatedJpeg } from '../helpers/test-images.js';

const MB = 1024 * 1024;

interface Prediction {
  index: number;
  label: string;
  label_zh: string;
  probability: number;
}

async function residentBytes(url: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const match = /^process_resident_memory_bytes (\d+)/m.exec(text);
  if (match === null) throw new Error('no process_resident_memory_bytes in /metrics');
  return Number(match[1]);
}

/** Polls /healthz back to back until `done` settles; returns every latency in ms and every status. */
async function probeHealth(url: string, done: Promise<unknown>): Promise<{ latencies: number[]; statuses: number[] }> {
  let finished = false;
  void done.finally(() => (finished = true));
  const latencies: number[] = [];
  const statuses: number[] = [];
  while (!finished) {
    const started = performance.now();
    const res = await fetch(`${url}/healthz`);
    await res.arrayBuffer();
    latencies.push(performance.now() - started);
    statuses.push(res.status);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return { latencies, statuses };
}

function summary(values: number[]): string {
  const sorted = [...values].sort((a, b) => a - b);
  const at = (q: number): string => (sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? NaN).toFixed(1);
  return `n=${sorted.length} p50=${at(0.5)} ms p95=${at(0.95)} ms max=${at(1)} ms`;
}

function predictionsOf(answer: HttpAnswer): Prediction[] {
  return answer.json?.predictions as Prediction[];
}

describe('64 clients at once', () => {
  let server: ChildServer;
  beforeAll(async () => {
    server = await spawnServer({ RS_LOG_LEVEL: 'warn' });
    await waitUntilReady(server.url);
  });
  afterAll(() => server?.kill());

  test('each gets exactly the answer its image gets alone, RSS stays bounded and /healthz answers', async () => {
    const images = await Promise.all(
      Array.from({ length: 64 }, (_, i) => (i % 2 === 0 ? noiseJpeg(100 + i, 96 + i * 4, 80 + i * 2) : noisePng(100 + i, 64 + i, 48 + i))),
    );
    const alone: Prediction[][] = [];
    for (const image of images) {
      const res = await postImage(server.url, image, { query: '?top=5' });
      expect(res.status).toBe(200);
      alone.push(predictionsOf(res));
    }
    // The images must be told apart, or "each gets its own answer" would prove nothing.
    expect(new Set(alone.map((p) => JSON.stringify(p.map((x) => x.index)))).size).toBeGreaterThan(8);

    const rssBefore = await residentBytes(server.url);
    const burst = Promise.all(images.map((image) => postImage(server.url, image, { query: '?top=5' })));
    const [answers, health] = await Promise.all([burst, probeHealth(server.url, burst)]);
    const rssAfter = await residentBytes(server.url);

    answers.forEach((res, i) => {
      expect(res.status).toBe(200);
      const together = predictionsOf(res);
      const expected = alone[i]!;
      expect(together.map((p) => p.index)).toEqual(expected.map((p) => p.index));
      // Same image, same model; a batch of 4 may use other ORT GEMM blocking than a batch of 1, so the
      // probabilities are compared to 1e-5 rather than bit for bit.
      for (const [k, p] of together.entries()) expect(Math.abs(p.probability - expected[k]!.probability)).toBeLessThan(1e-5);
    });
    console.log(
      `[load] 64-client burst: RSS before ${(rssBefore / MB).toFixed(1)} MB, after ${(rssAfter / MB).toFixed(1)} MB ` +
        `(+${((rssAfter - rssBefore) / MB).toFixed(1)} MB); /healthz during burst ${summary(health.latencies)}`,
    );
    expect(rssAfter - rssBefore).toBeLessThan(300 * MB);
    expect(health.statuses.every((status) => status === 200)).toBe(true);
  });

  test('soak: 300 mixed good and bad uploads each get the right status, and the server stays ready', async () => {
    const good = await Promise.all(Array.from({ length: 12 }, (_, i) => (i % 3 === 0 ? noisePng(500 + i) : noiseJpeg(500 + i))));
    const truncated = await truncatedJpeg(0.4);
    type Case = { name: string; send: () => Promise<HttpAnswer>; status: number; code?: string };
    const cases: Case[] = [
      ...good.map((image, i): Case => ({ name: `good ${i}`, send: () => postImage(server.url, image), status: 200 })),
      { name: 'empty', send: () => postImage(server.url, Buffer.alloc(0)), status: 400, code: 'FILE_EMPTY' },
      { name: 'text', send: () => postImage(server.url, Buffer.from('not an image')), status: 415, code: 'UNSUPPORTED_MEDIA_TYPE' },
      { name: 'truncated', send: () => postImage(server.url, truncated), status: 422, code: 'IMAGE_CORRUPT' },
      { name: 'bomb', send: () => postImage(server.url, pngDeclaring(30_000, 30_000)), status: 413, code: 'IMAGE_TOO_LARGE' },
      { name: 'wrong field', send: () => postImage(server.url, good[0]!, { field: 'photo' }), status: 400, code: 'FILE_MISSING' },
      { name: 'top=99', send: () => postImage(server.url, good[1]!, { query: '?top=99' }), status: 400, code: 'INVALID_ARGUMENT' },
    ];
    const total = 300;
    const concurrency = 8;
    const byStatus = new Map<number, number>();
    const wrong: string[] = [];
    let next = 0;
    const started = performance.now();
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        while (next < total) {
          const item = cases[next++ % cases.length]!;
          const res = await item.send();
          byStatus.set(res.status, (byStatus.get(res.status) ?? 0) + 1);
          if (res.status !== item.status || (item.code !== undefined && res.json?.code !== item.code)) {
            wrong.push(`${item.name}: ${res.status} ${res.json?.code}`);
          }
        }
      }),
    );
    const seconds = (performance.now() - started) / 1000;
    console.log(
      `[load] soak: ${total} requests in ${seconds.toFixed(1)} s, by status ${JSON.stringify(Object.fromEntries(byStatus))}, wrong ${wrong.length}`,
    );
    expect(wrong).toEqual([]);
    expect((await fetch(`${server.url}/readyz`)).status).toBe(200);
  }, 120_000);
});

describe('a full queue', () => {
  let server: ChildServer;
  beforeAll(async () => {
    server = await spawnServer({ RS_LOG_LEVEL: 'warn', RS_MAX_QUEUE: '4' });
    await waitUntilReady(server.url);
  });
  afterAll(() => server?.kill());

  async function fullQueueBurst(): Promise<{ answers: HttpAnswer[]; health: { latencies: number[]; statuses: number[] } }> {
    const images = await Promise.all(Array.from({ length: 8 }, (_, i) => noiseJpeg(900 + i, 400, 300)));
    const burst = Promise.all(Array.from({ length: 48 }, (_, i) => postImage(server.url, images[i % images.length]!)));
    const [answers, health] = await Promise.all([burst, probeHealth(server.url, burst)]);
    return { answers, health };
  }

  test('sheds load with 503 QUEUE_FULL and Retry-After while /healthz keeps answering 200', async () => {
    const { answers, health } = await fullQueueBurst();
    const shed = answers.filter((res) => res.status === 503);
    const served = answers.filter((res) => res.status === 200);
    console.log(
      `[load] full queue (maxQueue 4, 48 at once): ${served.length} × 200, ${shed.length} × 503; /healthz ${summary(health.latencies)}`,
    );
    expect(served.length + shed.length).toBe(answers.length);
    expect(shed.length).toBeGreaterThan(0);
    for (const res of shed) {
      expect(res.json?.code).toBe('QUEUE_FULL');
      expect(res.headers['retry-after']).toBe('1');
    }
    expect(health.statuses.length).toBeGreaterThan(0);
    expect(health.statuses.every((status) => status === 200)).toBe(true);
  });

  // Liveness under load. /healthz never touches the model or the queue, and the session runs on its own thread
  // (src/engine/inference-thread.ts), so a batch never stalls the event loop. The latencies are reported, not
  // held to a maximum: on a shared 2-core machine one probe can always land behind another tenant's burst.
  // The median is held to a bound far above what it measures (a few ms) and far below a stalled event loop.
  test('/healthz keeps answering promptly while the queue is full (median reported and bounded generously)', async () => {
    const { health } = await fullQueueBurst();
    const sorted = [...health.latencies].sort((a, b) => a - b);
    console.log(`[load] /healthz while the queue is full: ${summary(health.latencies)}`);
    expect(health.statuses.every((status) => status === 200)).toBe(true);
    expect(sorted[Math.floor(sorted.length / 2)]).toBeLessThan(250);
  });
});
