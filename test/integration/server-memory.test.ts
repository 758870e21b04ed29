/**
 * Memory and latency under hostile load, on a server in its own process (real classifier, synthetic
 * full-width ResNet-18, the allocator settings of the command's #! line): a burst of decompression bombs stays
 * within the decode budget's memory, a small photo sent meanwhile is answered, RSS comes back after bursts,
 * 200 slowloris connections do not stop legitimate clients, and 30 hostile Open Inference Protocol JSON bodies
 * at once (#19) neither kill it nor hold memory. Figures are printed ("[memory]").
 */
import { readFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { postImage, rawPost } from '../helpers/http.js';
import { type ChildServer, spawnServer, waitUntilReady } from '../helpers/spawn-server.js';
import { noiseJpeg } from '../helpers/test-images.js';

const MB = 1e6;

/**
 * The `NAME=value` pairs and Node's flags of the command's #! line (`env -S ... node --flag`), the flags through
 * NODE_OPTIONS, so this server allocates as the command does: without `--max-semi-space-size`, Node 24's larger
 * default young generation held 46 MB more after the aborted uploads than the command does.
 */
function allocatorSettings(): Record<string, string> {
  const shebang = readFileSync(new URL('../../src/cli.ts', import.meta.url), 'utf8').split('\n')[0] ?? '';
  const flags = [...(shebang.split(/ node /)[1] ?? '').matchAll(/--\S+/g)].map((m) => m[0]);
  expect(flags.some((flag) => flag.startsWith('--max-semi-space-size='))).toBe(true);
  return {
    ...Object.fromEntries([...shebang.matchAll(/ ([A-Z_]+)=(\S+)/g)].map((m) => [m[1]!, m[2]!])),
    NODE_OPTIONS: flags.join(' '),
  };
}

function rss(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/^VmRSS:\s+(\d+) kB/m.exec(status)?.[1]) * 1024;
}

/** Samples the server's RSS every 20 ms while `work` runs; returns the highest. */
async function peakDuring(pid: number, work: Promise<unknown>): Promise<number> {
  let peak = rss(pid);
  let done = false;
  void work.finally(() => (done = true));
  while (!done) {
    peak = Math.max(peak, rss(pid));
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return Math.max(peak, rss(pid));
}

/** Polls RSS until it is within `slack` of `target`, for at most `ms`; returns the last value and when. */
async function settle(pid: number, target: number, slack: number, ms: number): Promise<{ rss: number; afterMs: number }> {
  const t0 = Date.now();
  let now = rss(pid);
  while (now > target + slack && Date.now() - t0 < ms) {
    await new Promise((resolve) => setTimeout(resolve, 200));
    now = rss(pid);
  }
  return { rss: now, afterMs: Date.now() - t0 };
}

describe('a server under hostile load', () => {
  let server: ChildServer;
  let pid: number;
  let photo: Buffer;
  let idle: number;

  beforeAll(async () => {
    // The allocator settings of the command's #! line (src/cli.ts).
    server = await spawnServer({ RS_LOG_LEVEL: 'warn', ...allocatorSettings() });
    pid = server.process.pid!;
    await waitUntilReady(server.url);
    photo = await noiseJpeg(3, 640, 480);
    // Warm up the decode and inference paths, full batches included (ONNX Runtime's arena keeps the room of its
    // largest batch, by design), then let the server settle: that is "idle".
    for (let i = 0; i < 5; i++) expect((await postImage(server.url, photo)).status).toBe(200);
    for (const answer of await Promise.all(Array.from({ length: 16 }, () => postImage(server.url, photo)))) expect(answer.status).toBe(200);
    // 3 s: the server's quiet-time collection (src/server/quiet-gc.ts) has run by then.
    await new Promise((resolve) => setTimeout(resolve, 3000));
    idle = rss(pid);
  }, 120_000);
  afterAll(() => server?.kill());

  test('30 WebP bombs of 6000×6000 at once: peak RSS within 150 MB of idle, a small photo answered meanwhile, RSS back within 10 s', async () => {
    const solid = { create: { width: 6000, height: 6000, channels: 3 as const, background: { r: 20, g: 160, b: 90 } } };
    const bomb = await sharp(solid).webp({ lossless: true }).toBuffer(); // 1.4 KB that decodes to 108 MB
    const headerOnly = bomb.subarray(0, 38); // the issue's 38-byte file: a header declaring 6000×6000
    const bombs = Array.from({ length: 30 }, (_, i) => postImage(server.url, i % 2 === 0 ? bomb : headerOnly, { filename: 'b.webp' }));
    const photoStart = performance.now();
    const during = postImage(server.url, photo).then((answer) => ({ answer, ms: performance.now() - photoStart }));
    const all = Promise.all([Promise.all(bombs), during]);
    const peak = await peakDuring(pid, all);
    const [answers, legit] = await all;
    const after = await settle(pid, idle, 30 * MB, 10_000);
    console.log(
      `[memory] 30 WebP bombs: RSS idle ${(idle / MB).toFixed(0)} MB, peak ${(peak / MB).toFixed(0)} MB (+${((peak - idle) / MB).toFixed(0)}), ` +
        `${(after.rss / MB).toFixed(0)} MB after ${after.afterMs} ms; small photo answered in ${legit.ms.toFixed(0)} ms; ` +
        `statuses ${[...new Set(answers.map((a) => `${a.status} ${a.json?.code ?? ''}`))].join(', ')}`,
    );
    expect(legit.answer.status).toBe(200);
    for (const answer of answers) expect([200, 422]).toContain(answer.status);
    expect(peak - idle).toBeLessThanOrEqual(150 * MB);
    expect(after.rss - idle).toBeLessThanOrEqual(30 * MB);
  }, 120_000);

  test('RSS returns within 10 s after a burst of aborted uploads and one of 64 clients', async () => {
    const base = idle;
    // 30 uploads of 9.5 MB of a 10 MB body, then hang up.
    const aborted = Array.from(
      { length: 30 },
      () =>
        new Promise<void>((resolve) => {
          const socket = connect(Number(new URL(server.url).port), '127.0.0.1');
          socket.on('error', () => resolve());
          socket.write(
            'POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=B\r\nContent-Length: 10000000\r\n\r\n' +
              '--B\r\nContent-Disposition: form-data; name="file"; filename="a.jpg"\r\n\r\n',
          );
          socket.write(Buffer.alloc(9_500_000, 1), () => {
            setTimeout(() => {
              socket.destroy();
              resolve();
            }, 200);
          });
        }),
    );
    const abortPeak = await peakDuring(pid, Promise.all(aborted));
    const afterAborts = await settle(pid, base, 30 * MB, 10_000);
    const clients = Array.from({ length: 64 }, (_, i) => postImage(server.url, photo, { filename: `p${i}.jpg` }));
    const burstPeak = await peakDuring(pid, Promise.all(clients));
    const statuses = (await Promise.all(clients)).map((a) => a.status);
    const afterBurst = await settle(pid, base, 30 * MB, 10_000);
    console.log(
      `[memory] aborted uploads: RSS ${(base / MB).toFixed(0)} → peak ${(abortPeak / MB).toFixed(0)} → ${(afterAborts.rss / MB).toFixed(0)} MB after ${afterAborts.afterMs} ms; ` +
        `64 clients: peak ${(burstPeak / MB).toFixed(0)} → ${(afterBurst.rss / MB).toFixed(0)} MB after ${afterBurst.afterMs} ms (${statuses.filter((s) => s === 200).length} × 200)`,
    );
    expect(afterAborts.rss - base).toBeLessThanOrEqual(30 * MB);
    expect(afterBurst.rss - base).toBeLessThanOrEqual(30 * MB);
    for (const status of statuses) expect([200, 503]).toContain(status);
  }, 120_000);

  test("30 hostile OIP JSON bodies of ~10 MB at once (#19's enormous shape, a huge array, and their kin): refused 400, peak RSS within 150 MB of idle, /predict answered within 3 s throughout", async () => {
    const TEN_MB = 10_000_000;
    const filler = (unit: string, prefix: string, suffix: string): Buffer =>
      Buffer.from(prefix + unit.repeat(Math.floor((TEN_MB - prefix.length - suffix.length) / unit.length)).slice(0, -1) + suffix);
    const bodies: Record<string, Buffer> = {
      // The issue's: a shape of millions of dimensions (a 1 M-element one answered 400, larger ones took the heap).
      'enormous shape': filler('1,', '{"inputs":[{"name":"image","datatype":"BYTES","shape":[', ']}]}'),
      'huge data array': filler('0,', '{"inputs":[{"name":"input","datatype":"FP32","shape":[1,3,224,224],"data":[', ']}]}'),
      'millions of empty arrays': filler('[],', '{"inputs":[{"name":"input","datatype":"FP32","shape":[1,3,224,224],"data":[', ']}]}'),
      'deep nesting': filler('[', '', ''),
      'an object of a million keys': Buffer.from(
        `{"inputs":[{"name":"image","parameters":{${Array.from({ length: 700_000 }, (_, i) => `"k${i}":1`).join(',')}}}]}`,
      ),
    };
    const url = `${server.url}/v2/models/resnet18/infer`;
    const hostile = Array.from({ length: 30 }, (_, i) => {
      const [name, body] = Object.entries(bodies)[i % Object.keys(bodies).length]!;
      const chunks = function* (): Generator<Buffer> {
        for (let at = 0; at < body.length; at += 1024 * 1024) yield body.subarray(at, at + 1024 * 1024);
      };
      return rawPost(url, { 'content-type': 'application/json', 'content-length': String(body.length) }, chunks()).then(
        (answer) => ({ name, status: answer.status, code: answer.json?.code }),
        (error: unknown) => ({ name, status: 0, code: String((error as { code?: string }).code) }),
      );
    });
    let attacking = true;
    const legitimate: { status: number; ms: number }[] = [];
    const legit = (async () => {
      while (attacking) {
        const t0 = performance.now();
        const answer = await postImage(server.url, photo);
        legitimate.push({ status: answer.status, ms: performance.now() - t0 });
      }
    })();
    const attack = Promise.all(hostile).finally(() => {
      attacking = false;
    });
    const peak = await peakDuring(pid, attack);
    const answers = await attack;
    await legit;
    console.log(
      `[memory] 30 hostile OIP JSON bodies: RSS idle ${(idle / MB).toFixed(0)} MB, peak ${(peak / MB).toFixed(0)} MB (+${((peak - idle) / MB).toFixed(0)}); ` +
        `${legitimate.length} legitimate /predict meanwhile, slowest ${Math.max(...legitimate.map((l) => l.ms)).toFixed(0)} ms; ` +
        `answers ${[...new Set(answers.map((a) => `${a.name}: ${a.status} ${a.code ?? ''}`))].join('; ')}`,
    );
    expect(server.process.exitCode).toBeNull();
    for (const answer of answers) expect(answer).toMatchObject({ status: 400, code: 'INVALID_ARGUMENT' });
    expect(peak - idle).toBeLessThanOrEqual(150 * MB);
    expect(legitimate.length).toBeGreaterThan(0);
    for (const answer of legitimate) {
      expect(answer.status).toBe(200);
      // The issue's bound for a legitimate client under attack: a behaviour, measured, not a benchmark.
      expect(answer.ms).toBeLessThan(3000);
    }
  }, 120_000);

  test('200 slowloris connections do not stop legitimate clients', async () => {
    const port = Number(new URL(server.url).port);
    const timeOne = async (): Promise<number> => {
      const t0 = performance.now();
      expect((await postImage(server.url, photo)).status).toBe(200);
      return performance.now() - t0;
    };
    const median = (values: number[]): number => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
    const before: number[] = [];
    for (let i = 0; i < 10; i++) before.push(await timeOne());
    const slow: Socket[] = [];
    const drip = setInterval(() => {
      for (const socket of slow) if (!socket.destroyed) socket.write('X-a: b\r\n');
    }, 1000);
    try {
      for (let i = 0; i < 200; i++) {
        const socket = connect(port, '127.0.0.1');
        socket.on('error', () => undefined);
        socket.write('GET /healthz HTTP/1.1\r\nHost: x\r\n');
        slow.push(socket);
      }
      const during: number[] = [];
      for (let i = 0; i < 10; i++) during.push(await timeOne());
      console.log(
        `[memory] slowloris: 200 connections; legitimate POST /predict median ${median(before).toFixed(0)} ms before, ${median(during).toFixed(0)} ms during`,
      );
    } finally {
      clearInterval(drip);
      for (const socket of slow) socket.destroy();
    }
  }, 120_000);
});
