// `npm run bench`: resnet-serve (fp32, int8) against the reference system's numbers, on this machine.
//
//   node bench/run.mjs [--quick] [--soak | --no-soak] [--baseline pytorch] [--python PATH] [--out FILE]
//                      [--architectures LIST | --no-architectures]
//
// Inputs are generated (bench/.work/, git-ignored); every server listens on 127.0.0.1 only; every request
// loop is bounded in count and time; every child process is stopped at the end, even on failure.
// Method and caveats: docs/benchmarks.md, "How the benchmark works", whose figures this run rewrites. Last, the
// architectures section (bench/architectures.mjs): seven TorchVision classifiers, fp32 and int8, against PyTorch,
// whose table this run rewrites in docs/models.md.
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { cpus, loadavg, totalmem } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { messageOf } from '../dist/errors.js';
import { sectionOf } from '../scripts/doc-sections.mjs';
import {
  CONFIGS as ARCHITECTURE_CONFIGS,
  ARCHITECTURES,
  architecturesMarkdown,
  architecturesText,
  benchArchitectures,
  withArchitecturesSection,
} from './architectures.mjs';
import { closedLoop, multipartBody, oipBinaryBody, post, waitReady } from './lib/http.mjs';
import { ensureImages } from './lib/images.mjs';
import { cpuMsOf, freePort, memoryOf, RssSampler, runJson, runQuiet, spawnTracked, stop, stopAll } from './lib/proc.mjs';
import { buildRows, tabulate, toMarkdown, toText } from './lib/report.mjs';
import { ARCHITECTURES_SECTION, QUOTING_PAGES, writeBenchmarkDocs } from './lib/results-docs.mjs';
import { summarize } from './lib/stats.mjs';
import { writeSyntheticWeights } from './lib/synthetic-weights.mjs';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const WORK = join(ROOT, 'bench', '.work');
const CLI = join(ROOT, 'dist', 'cli.js');
/** The fp32 compute floor measured for ResNet-18 on one 224×224 image on this machine class. */
const FP32_FLOOR_MS = 16;
/** The peak-RSS targets for `serve` after 1,000 mixed requests. */
const SOAK_TARGET_MB = { fp32: 170, int8: 100 };
const SWEEP = [1, 4, 16, 64];
const SWEEP_IMAGE = '640x480.jpg';
/** The on-device rows need Debian's Chromium; without it they show n/a. */
const CHROMIUM = '/usr/bin/chromium';
/** ONNX operator names that only a quantized graph holds (QDQ or QOperator format). */
const QUANTIZED_OPS = ['DequantizeLinear', 'QLinearConv', 'ConvInteger', 'MatMulInteger'];

const USAGE = `Usage: node bench/run.mjs [options]   (npm run bench -- [options])
  --quick            ~2-minute run: fewer repetitions, shorter sweeps, no soak unless --soak
  --soak / --no-soak the 1,000-mixed-requests peak-RSS scenario (default: on in a full run, off with --quick)
  --baseline pytorch also run the PyTorch reference (Flask + TorchScript + OpenCV) and print ours / baseline
  --python PATH      Python with torch, opencv-python-headless and flask
                     (default $RESNET_SERVE_BENCH_PYTHON, else python3)
  --precision LIST   which of our precisions to run (default fp32,int8)
  --serve-args ARGS  extra flags for our serve command, e.g. --serve-args="--max-batch 1" (batching sweeps)
  --architectures LIST  the architectures section's classifiers, comma-separated (default ${ARCHITECTURES.join(',')});
                     it needs a Python with torch and torchvision (--python, $RESNET_SERVE_BENCH_PYTHON, .cache/venv or
                     python3) for the weights and the PyTorch column; ~10 minutes on 2 cores (--quick: ~4)
  --no-architectures skip that section (bench/results.md keeps the table of the last run that measured it)
  --out FILE         where to write the markdown results (default bench/results.md; "-" for none)`;

const { values: flags } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    soak: { type: 'boolean' },
    'no-soak': { type: 'boolean' },
    baseline: { type: 'string' },
    python: { type: 'string' },
    precision: { type: 'string', default: 'fp32,int8' },
    out: { type: 'string', default: join('bench', 'results.md') },
    'serve-args': { type: 'string', default: '' },
    architectures: { type: 'string', default: ARCHITECTURES.join(',') },
    'no-architectures': { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h' },
  },
});
if (flags.help) {
  console.log(USAGE);
  process.exit(0);
}
if (flags.baseline !== undefined && flags.baseline !== 'pytorch') {
  console.error(`--baseline must be "pytorch", not ${JSON.stringify(flags.baseline)}\n\n${USAGE}`);
  process.exit(2);
}

const CONFIG = flags.quick
  ? { mode: 'quick', runs: 6, e2eReps: 3, conc5Requests: 25, sweepMs: 2_500, sweepMax: 400, soak: flags.soak === true }
  : { mode: 'full', runs: 20, e2eReps: 10, conc5Requests: 100, sweepMs: 8_000, sweepMax: 2_000, soak: flags['no-soak'] !== true };
const SOAK_REQUESTS = 1_000;
const PYTHON = flags.python ?? process.env.RESNET_SERVE_BENCH_PYTHON ?? 'python3';
// MALLOC_ARENA_MAX=2 as `npm start` sets it (glibc's per-thread arenas otherwise keep freed decode buffers:
// soak peak -25 to -40 MB measured); every child gets it, the PyTorch baseline too, so both run alike.
const childEnv = { ...process.env, RESNET_SERVE_HOME: join(WORK, 'home'), MALLOC_ARENA_MAX: '2' };
const SERVE_ARGS = flags['serve-args'].split(' ').filter(Boolean);

const log = (message) => process.stderr.write(`bench: ${message}\n`);

function machine() {
  const cpuinfo = readFileSync('/proc/cpuinfo', 'utf8');
  const model = /^model name\s*:\s*(.+)$/m.exec(cpuinfo)?.[1] ?? cpus()[0]?.model ?? 'unknown';
  let flagsLine = /^flags\s*:\s*(.+)$/m.exec(cpuinfo)?.[1] ?? '';
  try {
    flagsLine = /^Flags:\s*(.+)$/m.exec(execFileSync('lscpu', { encoding: 'utf8' }))?.[1] ?? flagsLine;
  } catch {
    // lscpu missing: /proc/cpuinfo's flags say the same.
  }
  const simd = flagsLine.split(/\s+/).filter((f) => /^(avx2|avx512f|avx512bw|avx512_vnni|avx_vnni|avx512_bf16|amx\w*)$/.test(f));
  return { model, cores: cpus().length, simd: simd.join(' '), memGiB: (totalmem() / 2 ** 30).toFixed(0) };
}

const loadAverage = () =>
  loadavg()
    .map((x) => x.toFixed(2))
    .join(' ');

/** A Python that can run the baseline, or the reason there is none. */
async function checkPython() {
  const { code, stderr } = await runQuiet(PYTHON, ['-c', 'import torch, cv2, flask'], { timeoutMs: 60_000 }).catch((e) => ({
    code: -1,
    stderr: String(e),
  }));
  return code === 0
    ? { ok: true }
    : { ok: false, reason: `${PYTHON} cannot import torch, cv2 and flask (${stderr.trim().split('\n').at(-1) ?? 'not found'})` };
}

/** The shared synthetic checkpoint: PyTorch-made .pth when torch is here, else a JS-made .safetensors. */
async function ensureWeights(python) {
  const pth = join(WORK, 'resnet18-synthetic.pth');
  if (exists(pth)) return pth;
  if (python.ok) {
    const { code, stderr } = await runQuiet(PYTHON, [join(ROOT, 'bench', 'baseline', 'make_weights.py'), pth], { env: childEnv });
    if (code === 0) return pth;
    log(`make_weights.py failed (${stderr.trim().split('\n').at(-1)}); writing .safetensors from JS instead`);
  }
  const safetensors = join(WORK, 'resnet18-synthetic.safetensors');
  if (!exists(safetensors)) await writeSyntheticWeights(safetensors);
  return safetensors;
}

function exists(path) {
  try {
    return statSync(path).size > 0;
  } catch {
    return false;
  }
}

/** `resnet-serve convert` for one precision; resolves with the model path and the time it took, or why not. */
async function convert(weights, precision) {
  const out = join(WORK, `resnet18-synthetic.${precision}.onnx`);
  const args = [CLI, 'convert', '--weights', weights, '--out', out, ...precisionArgs(precision)];
  const t0 = performance.now();
  const { code, stderr } = await runQuiet(process.execPath, args, { env: childEnv });
  const ms = performance.now() - t0;
  if (code !== 0) return { ok: false, reason: `convert --precision ${precision}: ${stderr.trim().split('\n')[0]}` };
  // A CLI without int8 support may ignore the flag and write fp32: only a graph with quantized ops counts.
  if (precision !== 'fp32' && !QUANTIZED_OPS.some((op) => readFileSync(out).includes(op))) {
    return {
      ok: false,
      reason: `convert --precision ${precision} wrote a model without quantized operators (no int8 support in the CLI yet)`,
    };
  }
  // The first load on a machine compiles the model for this CPU into $RESNET_SERVE_HOME (src/engine/compile.ts);
  // one classify does it here, timed apart, so every load measured below is the steady-state one.
  const t1 = performance.now();
  const first = await runQuiet(
    process.execPath,
    [CLI, 'classify', '--model', out, ...precisionArgs(precision), join(WORK, 'images', '320x240.jpg')],
    { env: childEnv },
  );
  if (first.code !== 0) return { ok: false, reason: `classify with the ${precision} model: ${first.stderr.trim().split('\n')[0]}` };
  return { ok: true, model: out, ms, firstLoadMs: performance.now() - t1 };
}

const precisionArgs = (precision) => (precision === 'fp32' ? [] : ['--precision', precision]);

function ourTarget(precision, model) {
  const precisionFlag = precisionArgs(precision);
  return {
    label: `ours ${precision}`,
    precision,
    infer: (images, runs) => [
      process.execPath,
      [join(ROOT, 'bench', 'infer.mjs'), '--model', model, ...precisionFlag, '--runs', String(runs), ...images],
    ],
    floor: () => [process.execPath, [join(ROOT, 'bench', 'floor.mjs'), '--model', model]],
    // The page's on-device mode in Chromium, with the same model file (bench/on-device.mjs).
    onDevice: (image, runs) => [
      process.execPath,
      [join(ROOT, 'bench', 'on-device.mjs'), '--model', model, ...precisionFlag, '--runs', String(runs), image],
    ],
    protocols: true,
    // Started as `npm start` and the installed command start it: through the file's own #! line and its node flags.
    serve: (port) => [CLI, ['serve', '--model', model, ...precisionFlag, ...SERVE_ARGS, '--host', '127.0.0.1', '--port', String(port)]],
  };
}

function baselineTarget(weights) {
  const dir = join(ROOT, 'bench', 'baseline');
  return {
    label: 'pytorch',
    precision: 'fp32',
    infer: (images, runs) => [PYTHON, [join(dir, 'infer_bench.py'), '--weights', weights, '--runs', String(runs), ...images]],
    serve: (port) => [PYTHON, [join(dir, 'reference_server.py'), '--weights', weights, '--port', String(port)]],
  };
}

/** Starts a target's server and waits for /readyz 200; the caller stops it. */
async function startServer(target) {
  const port = await freePort();
  const [command, args] = target.serve(port);
  const t0 = performance.now();
  const child = spawnTracked(command, args, { env: childEnv });
  child.stdout.resume();
  try {
    await waitReady(`http://127.0.0.1:${port}/readyz`, child);
  } catch (error) {
    await stop(child);
    throw error;
  }
  return { child, url: `http://127.0.0.1:${port}/predict`, startupMs: performance.now() - t0 };
}

async function benchInference(target, images) {
  const [command, args] = target.infer(
    images.map((i) => i.path),
    CONFIG.runs,
  );
  log(`${target.label}: in-process inference (${CONFIG.runs} runs × ${images.length} images)`);
  const raw = await runJson(command, args, { env: childEnv, timeoutMs: 600_000 });
  const byName = (perPath) => Object.fromEntries(images.map((i) => [i.name, summarize(perPath[i.path] ?? [])]));
  return {
    runtime: raw.runtime,
    loadMs: raw.load_ms,
    infer: summarize(raw.infer_ms),
    engine: raw.engine_ms === undefined ? undefined : summarize(raw.engine_ms),
    preprocess: byName(raw.preprocess_ms),
    // Only our side has the two kernels to compare (bench/lib/kernel-timing.mjs).
    kernels:
      raw.kernels_ms === undefined
        ? undefined
        : Object.fromEntries(
            images.map((i) => [
              i.name,
              Object.fromEntries(Object.entries(raw.kernels_ms[i.path] ?? {}).map(([k, v]) => [k, summarize(v)])),
            ]),
          ),
    resampleKernel: raw.resample_kernel,
    peakRssMb: raw.peak_rss_mb,
  };
}

/** Node holding only the ORT session (bench/floor.mjs): the memory under any server on this stack. */
async function benchFloor(target) {
  const [command, args] = target.floor();
  log(`${target.label}: Node with the ONNX Runtime session alone`);
  const raw = await runJson(command, args, { env: childEnv, timeoutMs: 120_000 });
  return { beforeSessionMb: raw.rss_before_session_mb, hwmMb: raw.peak_rss_mb };
}

/** Chromium: first visit (download + session start), then per-image p50 with ORT threads and with one thread. */
async function benchOnDevice(target, images) {
  const image = images.find((i) => i.name === SWEEP_IMAGE) ?? images[0];
  const [command, args] = target.onDevice(image.path, Math.max(5, Math.round(CONFIG.runs / 2)));
  log(`${target.label}: on-device mode in Chromium (${image.name})`);
  const raw = await runJson(command, args, { env: childEnv, timeoutMs: 600_000 });
  const side = (s) => {
    const samples = s.inferenceMs[image.name] ?? [];
    return {
      startMs: s.startMs,
      threads: s.threads,
      inference: summarize(samples.map((x) => x.inference)),
      decode: summarize(samples.map((x) => x.decode)),
      longTasks: s.longTasksMs.length,
    };
  };
  return { runtime: raw.runtime, isolated: side(raw.isolated), single: side(raw.single) };
}

async function benchServer(target, uploads) {
  log(`${target.label}: server start → /readyz`);
  const { child, url, startupMs } = await startServer(target);
  const sampler = new RssSampler(child.pid, 50);
  try {
    const idleRssMb = memoryOf(child.pid).rssMb;

    log(`${target.label}: end-to-end HTTP, ${CONFIG.e2eReps} sequential requests per image`);
    const e2e = {};
    const cpu0 = cpuMsOf(child.pid);
    let sent = 0;
    for (const upload of uploads) {
      const ms = [];
      for (let i = 0; i < CONFIG.e2eReps; i++) {
        const r = await post(url, upload);
        sent++;
        if (r.status !== 200) throw new Error(`POST ${upload.name} answered ${r.status || 'nothing'}`);
        ms.push(r.ms);
      }
      e2e[upload.name] = summarize(ms);
    }
    const cpuMsPerRequest = (cpuMsOf(child.pid) - cpu0) / sent;
    const protocols = target.protocols ? await benchProtocols(target, url, uploads) : undefined;

    log(`${target.label}: RSS under 5 concurrent clients (${CONFIG.conc5Requests} mixed requests)`);
    const before = memoryOf(child.pid).rssMb;
    const mark = sampler.samples.length;
    const c5 = await closedLoop(url, uploads, { concurrency: 5, maxRequests: CONFIG.conc5Requests });
    const after = memoryOf(child.pid).rssMb;
    const conc5 = {
      beforeMb: before,
      afterMb: after,
      growthMb: Math.max(after, sampler.maxSince(mark) || after) - before,
      failed: c5.failed,
    };

    const sweep = {};
    const sweepUpload = uploads.find((u) => u.name === SWEEP_IMAGE) ?? uploads[0];
    for (const concurrency of SWEEP) {
      log(`${target.label}: ${concurrency} concurrent clients for ${CONFIG.sweepMs / 1000} s (${sweepUpload.name})`);
      const r = await closedLoop(url, [sweepUpload], { concurrency, maxRequests: CONFIG.sweepMax, durationMs: CONFIG.sweepMs });
      const s = summarize(r.latencies);
      sweep[concurrency] = { throughput: r.ok / (r.elapsedMs / 1000), p50: s.p50, p99: s.p99, failed: r.failed, statuses: r.statuses };
    }
    return { startupMs, idleRssMb, e2e, cpuMsPerRequest, protocols, conc5, sweep, hwmMb: memoryOf(child.pid).hwmMb };
  } finally {
    sampler.stop();
    await stop(child);
  }
}

/**
 * The Open Inference Protocol against /predict on the sweep image: one image per request under the binary
 * extension, alternating with /predict in the same loop so both see the same machine; then a batch of 8.
 */
async function benchProtocols(target, predictUrl, uploads) {
  const upload = uploads.find((u) => u.name === SWEEP_IMAGE) ?? uploads[0];
  const oipUrl = predictUrl.replace(/\/predict$/, '/v2/models/resnet18/infer');
  const single = oipBinaryBody([upload.bytes], `OIP ${upload.name}`);
  const batch = oipBinaryBody(
    Array.from({ length: 8 }, () => upload.bytes),
    `OIP 8 × ${upload.name}`,
  );
  const reps = CONFIG.e2eReps * 2;
  log(`${target.label}: Open Inference Protocol, ${reps} requests alternating with /predict, then ${CONFIG.e2eReps} batches of 8`);
  const timed = async (url, body) => {
    const r = await post(url, body);
    if (r.status !== 200) throw new Error(`POST ${body.name} answered ${r.status || 'nothing'}`);
    return r.ms;
  };
  const predictMs = [];
  const oipMs = [];
  for (let i = 0; i < reps; i++) {
    predictMs.push(await timed(predictUrl, upload));
    oipMs.push(await timed(oipUrl, single));
  }
  const batchMs = [];
  for (let i = 0; i < CONFIG.e2eReps; i++) batchMs.push(await timed(oipUrl, batch));
  const predict = summarize(predictMs);
  const oip = summarize(oipMs);
  return { image: upload.name, predict, oip, overheadPct: (oip.p50 / predict.p50 - 1) * 100, batch8: summarize(batchMs) };
}

/** The memory scenario: a fresh server, 1,000 mixed requests (every fifth a 12 MP JPEG), 5 clients. */
async function benchSoak(target, uploads) {
  log(`${target.label}: soak, ${SOAK_REQUESTS} mixed requests from 5 clients on a fresh server`);
  const { child, url } = await startServer(target);
  try {
    const r = await closedLoop(url, uploads, { concurrency: 5, maxRequests: SOAK_REQUESTS, durationMs: 300_000 });
    const { rssMb, hwmMb } = memoryOf(child.pid);
    return { requests: r.ok + r.failed, failed: r.failed, statuses: r.statuses, hwmMb, rssEndMb: rssMb, elapsedMs: r.elapsedMs };
  } finally {
    await stop(child);
  }
}

async function benchTarget(target, images, uploads) {
  const result = { errors: [] };
  const attempt = async (key, fn) => {
    try {
      result[key] = await fn();
    } catch (error) {
      result.errors.push(`${key}: ${messageOf(error)}`);
      log(`${target.label}: ${key} failed: ${result.errors.at(-1)}`);
    }
  };
  await attempt('infer', () => benchInference(target, images));
  if (target.floor) await attempt('floor', () => benchFloor(target));
  if (target.onDevice && existsSync(CHROMIUM)) await attempt('onDevice', () => benchOnDevice(target, images));
  await attempt('server', () => benchServer(target, uploads));
  if (CONFIG.soak) await attempt('soak', () => benchSoak(target, uploads));
  return result;
}

function contextLines(columns) {
  const lines = [];
  // Against the floor, the median: on a shared VM, other tenants' bursts land in the mean (and p99) of
  // either side of a comparison, while the median shows what the computation itself takes.
  const infer = columns.find((c) => c.label === 'ours fp32')?.result?.infer;
  if (infer !== undefined) {
    lines.push(
      `fp32 compute floor: ours fp32 p50 ${infer.infer.p50.toFixed(1)} ms per image (mean ${infer.infer.mean.toFixed(1)}) vs the floor's ~${FP32_FLOOR_MS} ms → ratio ${(infer.infer.p50 / FP32_FLOOR_MS).toFixed(2)} (target ≤ 1.25)`,
    );
  }
  const kernels = infer?.kernels;
  if (kernels !== undefined) {
    // Issue #11's targets: the resample step ≥ 4× faster than the TypeScript one; preprocessing ≤ 1.2× OpenCV's.
    const opencv = columns.find((c) => c.label === 'pytorch')?.result?.infer?.preprocess;
    for (const name of ['640x480.jpg', '1920x1080.jpg']) {
      const k = kernels[name];
      if (k?.resampleSimd === undefined) continue;
      const speedUp = k.resampleReference.p50 / k.resampleSimd.p50;
      const vsOpencv =
        opencv?.[name] === undefined
          ? ''
          : `; preprocess ours ${infer.preprocess[name].mean.toFixed(1)} ms / OpenCV ${opencv[name].mean.toFixed(1)} ms → ${(infer.preprocess[name].mean / opencv[name].mean).toFixed(2)} (target ≤ 1.2)`;
      lines.push(
        `resample kernel ${name} (${infer.resampleKernel}): TypeScript p50 ${k.resampleReference.p50.toFixed(2)} ms / SIMD ${k.resampleSimd.p50.toFixed(2)} ms → ${speedUp.toFixed(1)}× (target ≥ 4×)${vsOpencv}`,
      );
    }
  }
  if (infer?.engine !== undefined) {
    lines.push(
      `fp32 compute floor, session back to back: p50 ${infer.engine.p50.toFixed(1)} ms per image (mean ${infer.engine.mean.toFixed(1)}) → ratio ${(infer.engine.p50 / FP32_FLOOR_MS).toFixed(2)}`,
    );
  }
  for (const column of columns) {
    const soak = column.result?.soak;
    const target = column.label.startsWith('ours') ? SOAK_TARGET_MB[column.precision] : undefined;
    if (soak === undefined) continue;
    const floor = column.result?.floor?.hwmMb;
    const verdict =
      target === undefined
        ? ''
        : ` (target ≤ ${target} MB: ${soak.hwmMb <= target ? 'met' : 'NOT met'}` +
          `${floor === undefined ? '' : `; Node with the ONNX Runtime session alone holds ${floor.toFixed(1)} MB`})`;
    lines.push(
      `soak ${column.label}: VmHWM ${soak.hwmMb.toFixed(1)} MB after ${soak.requests} requests in ${(soak.elapsedMs / 1000).toFixed(0)} s, ${soak.failed} failed${verdict}`,
    );
  }
  for (const column of columns) {
    const sweep = column.result?.server?.sweep ?? {};
    const refused = Object.entries(sweep)
      .filter(([, s]) => s.failed > 0)
      .map(([c, s]) => `${c} clients: ${JSON.stringify(s.statuses)}`);
    if (refused.length > 0) lines.push(`${column.label} answers by status where some failed: ${refused.join('; ')}`);
  }
  for (const column of columns) {
    if (column.unavailable) lines.push(`${column.label}: n/a — ${column.unavailable}`);
    for (const error of column.result?.errors ?? []) lines.push(`${column.label}: ${error}`);
  }
  return lines;
}

async function main() {
  const started = new Date();
  const host = machine();
  const loadBefore = loadAverage();
  log(`CPU ${host.model}, ${host.cores} cores, ${host.simd}; load average ${loadBefore}`);
  if (Number(loadBefore.split(' ')[0]) > host.cores * 0.5) {
    log('warning: the machine is busy (load average above half the cores); numbers will be noisy');
  }
  await mkdir(WORK, { recursive: true });
  const images = await ensureImages(join(WORK, 'images'));
  const uploads = images.map((i) => ({
    ...multipartBody(i.bytes, i.name, i.format === 'png' ? 'image/png' : 'image/jpeg'),
    bytes: i.bytes,
  }));

  const wantBaseline = flags.baseline === 'pytorch';
  const python = await checkPython();
  const weights = await ensureWeights(python);
  log(`weights: ${weights}`);

  const columns = [];
  const converts = {};
  for (const precision of flags.precision
    .split(',')
    .map((p) => p.trim())
    .filter(Boolean)) {
    log(`converting the checkpoint to ONNX (${precision})`);
    const converted = await convert(weights, precision);
    converts[precision] = converted;
    columns.push(
      converted.ok
        ? { label: `ours ${precision}`, precision, target: ourTarget(precision, converted.model) }
        : { label: `ours ${precision}`, precision, unavailable: converted.reason },
    );
  }
  if (wantBaseline) {
    columns.push(
      python.ok && weights.endsWith('.pth')
        ? { label: 'pytorch', precision: 'fp32', target: baselineTarget(weights) }
        : { label: 'pytorch', precision: 'fp32', unavailable: python.ok ? 'the shared .pth checkpoint could not be made' : python.reason },
    );
  }

  for (const column of columns) {
    if (column.target) column.result = await benchTarget(column.target, images, uploads);
  }

  // After every server above is stopped, so that its servers and PyTorch have the machine to themselves.
  let architectures;
  if (!flags['no-architectures']) {
    log('architectures section (bench/architectures.mjs; skip with --no-architectures)');
    try {
      architectures = await benchArchitectures({
        archs: flags.architectures
          .split(',')
          .map((a) => a.trim())
          .filter(Boolean),
        config: flags.quick ? ARCHITECTURE_CONFIGS.quick : ARCHITECTURE_CONFIGS.full,
        python: flags.python,
        log: (message) => log(`architectures: ${message}`),
      });
    } catch (error) {
      log(`architectures section failed: ${messageOf(error)}`);
    }
  }

  const baseline = columns.find((c) => c.label === 'pytorch');
  const rows = buildRows(
    images.map((i) => i.name),
    SWEEP,
  );
  const table = tabulate(rows, columns, baseline);
  const context = contextLines(columns);
  const runtimes = columns.map((c) => `${c.label}: ${c.result?.infer?.runtime ?? 'n/a'}`);
  const convertLines = Object.entries(converts).map(
    ([p, c]) =>
      `convert .pth → ONNX ${p}: ${c.ok ? `${c.ms.toFixed(0)} ms; first classify on this machine (compiles the model for this CPU): ${c.firstLoadMs.toFixed(0)} ms` : 'n/a'}`,
  );
  const loadAfter = loadAverage();
  const summary = [
    `date: ${started.toISOString()} (${CONFIG.mode} run, ${((Date.now() - started.getTime()) / 1000).toFixed(0)} s)`,
    `CPU: ${host.model}, ${host.cores} cores, ${host.memGiB} GiB; SIMD: ${host.simd}`,
    `load average (1/5/15 min): before ${loadBefore}, after ${loadAfter}` +
      (Number(loadAfter.split(' ')[0]) > host.cores * 0.5
        ? ' (the benchmark’s own servers and clients share the 2 cores; spinning ORT and OpenMP threads count as load)'
        : ''),
    ...runtimes,
    `weights: ${weights.replace(`${ROOT}/`, '')} (synthetic, torchvision ResNet-18 names and shapes)`,
    ...convertLines,
  ];

  console.log(`\n${summary.join('\n')}\n\n${toText(table)}\n`);
  if (baseline) console.log('ratios: ours / pytorch; below 1 is better except for throughput.');
  console.log(context.join('\n'));
  if (architectures) console.log(`\nArchitectures\n${architecturesText(architectures)}`);

  if (flags.out !== '-') {
    const markdown = [
      '# resnet-serve benchmark results',
      '',
      'Written by `npm run bench' +
        (process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(' ')}` : '') +
        '` (bench/run.mjs); method in docs/benchmarks.md, "How the benchmark works".',
      '',
      ...summary.map((l) => `- ${l}`),
      `- settings: ${SERVE_ARGS.length > 0 ? `serve ${SERVE_ARGS.join(' ')}; ` : ''}${CONFIG.runs} in-process runs per image; ${CONFIG.e2eReps} sequential HTTP requests per image; ` +
        `${CONFIG.conc5Requests} requests from 5 clients; ${CONFIG.sweepMs / 1000} s (≤ ${CONFIG.sweepMax} requests) per concurrency level on ${SWEEP_IMAGE}; ` +
        `soak ${CONFIG.soak ? `${SOAK_REQUESTS} requests` : 'off'}`,
      '',
      toMarkdown(table),
      '',
      ...(baseline ? ['Ratios are ours / pytorch: below 1 is better, except for throughput.', ''] : []),
      ...context.map((l) => `- ${l}`),
      '',
    ].join('\n');
    // Without a new architectures table, the one of the last run that measured it stays (it names its own date).
    const out = resolve(ROOT, flags.out);
    const previous = existsSync(out) ? readFileSync(out, 'utf8') : '';
    const previousSection = sectionOf(previous, ARCHITECTURES_SECTION);
    const command = `npm run bench${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(' ')}` : ''}`;
    const section = architectures ? architecturesMarkdown(architectures, command) : previousSection;
    const written = section === undefined ? markdown : withArchitecturesSection(markdown, section);
    await writeFile(out, written);
    log(`wrote ${flags.out}`);
    // The committed results are the ones the documentation quotes; a sweep written elsewhere leaves the pages alone.
    if (resolve(ROOT, flags.out) === resolve(ROOT, 'bench', 'results.md')) {
      await writeBenchmarkDocs(ROOT, written);
      log(`wrote its figures into ${QUOTING_PAGES.map((page) => page.path).join(', ')}`);
    }
  }
}

try {
  await main();
} catch (error) {
  console.error('bench:', error);
  process.exitCode = 1;
} finally {
  await stopAll();
}
