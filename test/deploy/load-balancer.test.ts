/**
 * Three `resnet-serve serve` replicas on 127.0.0.1 behind Debian's nginx with deploy/nginx/resnet-serve.conf,
 * 16 closed-loop clients, and the two ways a replica goes away: SIGTERM (a rolling restart: not ready, finish,
 * exit, start again) and SIGKILL (a crash, then a restart). No client may see a failure, and every answer must
 * be the one its image gets alone. Without /usr/sbin/nginx it is skipped with a message, except in CI.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { convertToOnnx } from '../../src/model/architectures/resnet.js';
import { CLI, type CliProcess, startCli } from '../helpers/cli-process.js';
import { getStatus } from '../helpers/http.js';
import { REPO } from '../helpers/manifests.js';
import { syntheticResNet18StateDict } from '../helpers/synthetic-weights.js';
import { noiseJpeg } from '../helpers/test-images.js';
import { waitFor } from '../helpers/wait.js';

const NGINX = '/usr/sbin/nginx';
const haveNginx = existsSync(NGINX);
if (!haveNginx && process.env.CI === 'true') {
  throw new Error(`${NGINX} is missing; CI must install Debian's nginx (apt-get install -y nginx) to run the load-balancer test.`);
}
if (!haveNginx) console.warn(`[load-balancer] skipped: ${NGINX} not found (apt-get install -y nginx to run it)`);

const CLIENTS = 16;
const RUN_MS = 16_000;
const SIGTERM_AT_MS = 4000;
const SIGKILL_AT_MS = 9000;

interface Prediction {
  index: number;
  probability: number;
}

interface Replica {
  port: number;
  process: CliProcess;
}

describe.skipIf(!haveNginx)('replicas behind nginx', () => {
  let dir: string;
  let env: Record<string, string>;
  const replicas: Replica[] = [];
  let nginx: ChildProcess | undefined;
  let front: string;

  /** Starts a replica on `port` (0: any) and waits until it is ready. */
  async function startReplica(port: number): Promise<Replica> {
    const process = startCli([CLI, 'serve'], { ...env, PORT: String(port) });
    const url = await process.url;
    await waitFor(`${url} to be ready`, async () => (await getStatus(`${url}/readyz`)) === 200, 60_000, 20);
    return { port: Number(new URL(url).port), process };
  }

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'resnet-serve-lb-'));
    await chmod(dir, 0o755);
    const model = join(dir, 'synthetic-resnet18.onnx');
    await writeFile(model, convertToOnnx(syntheticResNet18StateDict(2718)));
    // Three replicas share two cores here: one ONNX Runtime thread each.
    env = {
      PATH: process.env.PATH ?? '',
      MALLOC_ARENA_MAX: '2',
      RESNET_SERVE_MODEL: model,
      RESNET_SERVE_HOME: join(dir, 'home'),
      RESNET_SERVE_THREADS: '1',
    };
    // The first compiles the model into the shared cache; the others then load it.
    replicas.push(await startReplica(0));
    replicas.push(...(await Promise.all([startReplica(0), startReplica(0)])));

    const prefix = join(dir, 'nginx');
    await mkdir(prefix);
    // nginx's workers run as `nobody` when the master is root: they write request bodies under the prefix.
    await chmod(prefix, 0o777);
    const listen = await freePort();
    front = `http://127.0.0.1:${listen}`;
    let site = await readFile(join(REPO, 'deploy', 'nginx', 'resnet-serve.conf'), 'utf8');
    const ports = replicas.map((r) => r.port);
    site = site.replace(/server 127\.0\.0\.1:808(\d)/g, (_all, n: string) => `server 127.0.0.1:${ports[Number(n) - 1]}`);
    site = site.replace('listen 127.0.0.1:8080;', `listen 127.0.0.1:${listen};`);
    expect(site).not.toMatch(/:808\d/);
    await writeFile(join(prefix, 'resnet-serve.conf'), site);
    await writeFile(
      join(prefix, 'nginx.conf'),
      [
        'worker_processes 1;',
        `error_log ${join(prefix, 'error.log')} warn;`,
        `pid ${join(prefix, 'nginx.pid')};`,
        'events { worker_connections 512; }',
        'http {',
        "  log_format upstreams '$status $upstream_addr $upstream_status';",
        `  access_log ${join(prefix, 'access.log')} upstreams;`,
        ...['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'].map((kind) => `  ${kind}_temp_path ${join(prefix, kind)};`),
        `  include ${join(prefix, 'resnet-serve.conf')};`,
        '}',
        '',
      ].join('\n'),
    );
    nginx = spawn(NGINX, ['-p', prefix, '-c', join(prefix, 'nginx.conf'), '-g', 'daemon off;'], { stdio: ['ignore', 'ignore', 'pipe'] });
    await waitFor('nginx to answer', async () => (await getStatus(`${front}/healthz`)) === 200, 10_000, 20);
  }, 120_000);

  afterAll(async () => {
    for (const replica of replicas) if (replica.process.child.exitCode === null) replica.process.child.kill('SIGKILL');
    if (nginx !== undefined && nginx.exitCode === null) {
      const exited = new Promise((resolve) => nginx?.once('exit', resolve));
      nginx.kill('SIGTERM');
      await exited;
    }
    await rm(dir, { recursive: true, force: true });
  });

  test('16 clients, one replica restarted (SIGTERM) and one crashed (SIGKILL): no failure, every answer its solo one', async () => {
    const images = await Promise.all(Array.from({ length: 8 }, (_, i) => noiseJpeg(900 + i, 640, 480)));
    const solo: Prediction[][] = [];
    for (const image of images) solo.push(await predict(`http://127.0.0.1:${replicas[0]!.port}`, image).then((a) => a.predictions));

    const failures: string[] = [];
    let answered = 0;
    let stop = false;
    const started = performance.now();
    const clients = Array.from({ length: CLIENTS }, async (_, client) => {
      for (let k = client; !stop; k++) {
        const i = k % images.length;
        const answer = await predict(front, images[i]!).catch((error: unknown) => ({ status: 0, predictions: [], error: String(error) }));
        if (answer.status !== 200) failures.push(`image ${i}: status ${answer.status} ${'error' in answer ? answer.error : ''}`);
        else if (!sameAnswer(answer.predictions, solo[i]!)) failures.push(`image ${i}: another answer than alone`);
        else answered++;
      }
    });

    const sleepUntil = (ms: number): Promise<void> =>
      new Promise((resolve) => setTimeout(resolve, Math.max(0, started + ms - performance.now())));
    // A rolling restart: not ready at once, in-flight requests finished, exit 0, then a new process on the port.
    const rolling = (async () => {
      await sleepUntil(SIGTERM_AT_MS);
      const old = replicas[1]!;
      old.process.child.kill('SIGTERM');
      const code = await old.process.exited;
      replicas[1] = await startReplica(old.port);
      return code;
    })();
    // A crash: SIGKILL, with whatever it had in flight, then a restart.
    const crash = (async () => {
      await sleepUntil(SIGKILL_AT_MS);
      const old = replicas[2]!;
      old.process.child.kill('SIGKILL');
      await old.process.exited;
      replicas[2] = await startReplica(old.port);
    })();
    const [exitCode] = await Promise.all([rolling, crash, sleepUntil(RUN_MS)]);
    stop = true;
    await Promise.all(clients);
    const seconds = (performance.now() - started) / 1000;

    const log = (await readFile(join(dir, 'nginx', 'access.log'), 'utf8')).split('\n').filter((line) => line !== '');
    // "$status $upstream_addr $upstream_status": a request sent to more than one replica lists each.
    const retried = log.filter((line) => line.includes(','));
    console.log(
      `[load-balancer] ${answered} answers in ${seconds.toFixed(1)} s (${(answered / seconds).toFixed(1)} img/s, ${CLIENTS} clients, 3 replicas × 1 thread, 640×480 JPEGs); ` +
        `${retried.length} sent again to another replica, e.g. ${JSON.stringify(retried.slice(0, 3))}; failures ${failures.length}`,
    );
    expect(failures).toEqual([]);
    expect(exitCode).toBe(0);
    expect(answered).toBeGreaterThan(0);
    for (const replica of replicas) expect(await getStatus(`http://127.0.0.1:${replica.port}/readyz`)).toBe(200);
  }, 120_000);
});

async function predict(url: string, image: Buffer): Promise<{ status: number; predictions: Prediction[] }> {
  const form = new FormData();
  form.append('file', new Blob([new Uint8Array(image)]), 'image.jpg');
  const res = await fetch(`${url}/predict`, { method: 'POST', body: form, signal: AbortSignal.timeout(30_000) });
  const json = (await res.json()) as { predictions?: Prediction[] };
  return { status: res.status, predictions: json.predictions ?? [] };
}

/** Same classes in order; a batch of four may use other GEMM blocking than one image alone, hence 1e-5. */
function sameAnswer(actual: Prediction[], expected: Prediction[]): boolean {
  return (
    actual.length === expected.length &&
    actual.every((p, i) => p.index === expected[i]!.index && Math.abs(p.probability - expected[i]!.probability) < 1e-5)
  );
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address !== null ? address.port : 0));
    });
  });
}
