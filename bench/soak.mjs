// `npm run soak`: a mixed hostile + legitimate soak of `resnet-serve serve` on 127.0.0.1 (#19). Not in CI.
//
//   SOAK_SECONDS=300 node bench/soak.mjs      (default 300 s)
//
// The server runs the synthetic full-width ResNet-18 (fp32, converted by the CLI into bench/.work/) as `npm start`
// runs it. Meanwhile: 2 legitimate clients POST /predict and 1 sends Open Inference Protocol infer requests;
// hostile clients send the bodies of #19 (enormous shapes, huge arrays, deep JSON), hold slowloris connections,
// abort 5 MB uploads, flood connections and send malformed HTTP. Every 10 s: RSS and open descriptors.
// Exit 1 on a crash or on any 5xx (or failed answer) to a legitimate client.

import { readdirSync } from 'node:fs';
import { mkdir, readFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { multipartBody, oipBinaryBody, post, waitReady } from './lib/http.mjs';
import { ensureImages } from './lib/images.mjs';
import { freePort, memoryOf, runQuiet, spawnTracked, stop, stopAll } from './lib/proc.mjs';
import { writeSyntheticWeights } from './lib/synthetic-weights.mjs';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const WORK = join(ROOT, 'bench', '.work');
const CLI = join(ROOT, 'dist', 'cli.js');
const SECONDS = Number(process.env.SOAK_SECONDS ?? 300);
const SAMPLE_MS = 10_000;
if (!(SECONDS > 0)) throw new Error(`SOAK_SECONDS must be a positive number, not ${process.env.SOAK_SECONDS}`);
const env = { ...process.env, RESNET_SERVE_HOME: join(WORK, 'home') };
const log = (message) => process.stderr.write(`soak: ${message}\n`);

async function model() {
  await mkdir(WORK, { recursive: true });
  const out = join(WORK, 'resnet18-synthetic.fp32.onnx');
  try {
    await readFile(out);
    return out;
  } catch {
    const weights = join(WORK, 'resnet18-synthetic.safetensors');
    await writeSyntheticWeights(weights);
    const { code, stderr } = await runQuiet(process.execPath, [CLI, 'convert', '--weights', weights, '--out', out], { env });
    if (code !== 0) throw new Error(`convert failed: ${stderr}`);
    return out;
  }
}

/** A raw request on its own connection; resolves when the server answers or closes, whatever it said. */
function raw(port, head, body = Buffer.alloc(0), { abortAfterBytes } = {}) {
  return new Promise((done) => {
    const socket = connect(port, '127.0.0.1');
    const finish = () => {
      socket.destroy();
      done();
    };
    socket.setTimeout(30_000, finish);
    socket
      .on('error', finish)
      .on('close', finish)
      .on('data', () => undefined);
    socket.write(head);
    const sent = abortAfterBytes === undefined ? body : body.subarray(0, abortAfterBytes);
    socket.write(sent, () => {
      if (abortAfterBytes !== undefined) setTimeout(finish, 100);
    });
  });
}

const filler = (unit, prefix, suffix, bytes) => Buffer.from(prefix + unit.repeat(Math.floor(bytes / unit.length)).slice(0, -1) + suffix);
const HOSTILE_JSON = [
  filler('1,', '{"inputs":[{"name":"image","datatype":"BYTES","shape":[', ']}]}', 4e6),
  filler('0,', '{"inputs":[{"name":"input","datatype":"FP32","shape":[1,3,224,224],"data":[', ']}]}', 4e6),
  filler('[],', '{"inputs":[{"name":"input","datatype":"FP32","shape":[1,3,224,224],"data":[', ']}]}', 4e6),
  filler('[', '', '', 1e6),
];

async function main() {
  const modelPath = await model();
  const images = await ensureImages(join(WORK, 'images'));
  const photo = images.find((image) => image.name === '640x480.jpg').bytes;
  const port = await freePort();
  const server = spawnTracked(CLI, ['serve', '--model', modelPath, '--host', '127.0.0.1', '--port', String(port)], { env });
  server.stdout.resume();
  const base = `http://127.0.0.1:${port}`;
  await waitReady(`${base}/readyz`, server);
  const pid = server.pid;
  let crashed;
  let stopping = false;
  void server.exited.then(({ code, signal }) => {
    if (stopping) return;
    crashed = `exit ${code ?? signal}: ${server.stderrTail.trim().split('\n').slice(-3).join(' | ')}`;
  });
  const deadline = Date.now() + SECONDS * 1000;
  const running = () => Date.now() < deadline && crashed === undefined;

  const legit = { statuses: {}, worstMs: 0, count: 0 };
  const legitimate = async (url, upload) => {
    while (running()) {
      const { status, ms } = await post(url, upload, 30_000);
      legit.statuses[status] = (legit.statuses[status] ?? 0) + 1;
      legit.count++;
      legit.worstMs = Math.max(legit.worstMs, ms);
    }
  };
  const hostile = { sent: 0 };
  const loop = async (attack) => {
    while (running()) {
      await attack();
      hostile.sent++;
    }
  };
  const inferHead = (body) =>
    `POST /v2/models/resnet18/infer HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n`;
  let next = 0;
  const attacks = [
    // #19's OIP JSON bodies, one after another on fresh connections.
    () => {
      const body = HOSTILE_JSON[next++ % HOSTILE_JSON.length];
      return raw(port, inferHead(body), body);
    },
    // Uploads of 5 MB of a declared 9 MB, then gone.
    () =>
      raw(
        port,
        'POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=B\r\nContent-Length: 9000000\r\n\r\n--B\r\nContent-Disposition: form-data; name="file"; filename="a.jpg"\r\n\r\n',
        Buffer.alloc(5_000_000, 1),
        { abortAfterBytes: 5_000_000 },
      ),
    // 50 slowloris connections held for 5 s, then 100 connections opened and dropped at once.
    async () => {
      const held = Array.from({ length: 50 }, () => {
        const socket = connect(port, '127.0.0.1');
        socket.on('error', () => undefined);
        socket.write('GET /healthz HTTP/1.1\r\nHost: x\r\n');
        return socket;
      });
      await new Promise((r) => setTimeout(r, 5000));
      for (const socket of held) socket.destroy();
      await Promise.all(Array.from({ length: 100 }, () => raw(port, '')));
    },
    // Malformed HTTP.
    () => raw(port, 'GARBAGE / HTTP/9.9\r\nContent-Length: -1\r\n\r\n'),
  ];

  const samples = [];
  const sample = () => {
    try {
      const { rssMb } = memoryOf(pid);
      const fds = readdirSync(`/proc/${pid}/fd`).length;
      samples.push({ s: Math.round((SECONDS * 1000 - (deadline - Date.now())) / 1000), rssMb, fds });
      log(`t=${samples.at(-1).s}s RSS ${rssMb.toFixed(0)} MB, ${fds} fds, ${legit.count} legitimate answers, ${hostile.sent} hostile sent`);
    } catch {
      // The process is gone; `crashed` says why.
    }
  };
  sample();
  const sampler = setInterval(sample, SAMPLE_MS);
  const oip = oipBinaryBody([photo], 'oip');
  await Promise.all([
    legitimate(`${base}/predict`, multipartBody(photo, '640x480.jpg', 'image/jpeg')),
    legitimate(`${base}/predict`, multipartBody(photo, '640x480.jpg', 'image/jpeg')),
    legitimate(`${base}/v2/models/resnet18/infer`, oip),
    ...attacks.map(loop),
  ]);
  clearInterval(sampler);
  sample();
  stopping = true;
  await stop(server);

  const failures = Object.entries(legit.statuses)
    .filter(([status]) => Number(status) >= 500 || Number(status) === 0)
    .reduce((sum, [, n]) => sum + n, 0);
  const range = (key) => `${Math.min(...samples.map((s) => s[key])).toFixed(0)}..${Math.max(...samples.map((s) => s[key])).toFixed(0)}`;
  const report = {
    seconds: SECONDS,
    crashes: crashed === undefined ? 0 : 1,
    crash: crashed,
    legitimate: { answers: legit.count, byStatus: legit.statuses, failedOr5xx: failures, slowestMs: Math.round(legit.worstMs) },
    hostileSent: hostile.sent,
    rssMb: range('rssMb'),
    fds: range('fds'),
    samples,
  };
  process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
  return crashed === undefined && failures === 0 ? 0 : 1;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  async (error) => {
    log(String(error?.stack ?? error));
    await stopAll();
    process.exitCode = 1;
  },
);
