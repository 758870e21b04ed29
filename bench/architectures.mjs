// The architectures table of `npm run bench` (issue #17, "Benchmarks"): for each TorchVision classifier, fp32 and
// int8, measured in one run on this machine —
//   inference p50    batch 1, the serving engine (dist/engine: ORT session in its thread, compiled for this CPU);
//   PyTorch p50      TorchVision's own module on the same state_dict, eval mode, torch.inference_mode(), the same
//                    thread count (bench/baseline/arch_infer.py), taken in blocks alternating with ours so that the
//                    noise of a shared machine falls on both alike; ours ÷ PyTorch;
//   HTTP p50         POST /predict of one 640×480 JPEG to a `serve` process (sequential requests);
//   16 clients       closed-loop throughput, images/s, on the same photo;
//   peak RSS         the server's VmHWM after all of that;
//   weights          bytes of the ONNX file `serve` runs (the converted, cached model);
//   top-1, GFLOPs    the model card's (src/weights/torchvision-weights.ts, meta.acc1 and meta.gflops).
// The state_dicts are synthetic (test/fixtures/make_arch_fixtures.py: TorchVision's modules, seeded random weights,
// full size): the times and sizes are those of the real checkpoints, the predictions are not.
//
//   node bench/architectures.mjs [--quick] [--runs N] [--python PATH] [--threads N] [--out FILE] [ARCH...]
//
// Everything runs under a temporary directory (weights, calibration photos, the `--home` cache of converted and
// compiled models), removed at the end; servers listen on 127.0.0.1 only; every loop is bounded in count and time;
// every child process is stopped at the end, even on failure. bench/run.mjs runs this as its last section.
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { cpus, loadavg, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { InferenceEngine } from '../dist/engine/inference-engine.js';
import { messageOf } from '../dist/errors.js';
import { readModelContract } from '../dist/model/read-contract.js';
import { TORCHVISION_WEIGHTS } from '../dist/weights/torchvision-weights.js';
import { closedLoop, multipartBody, post, waitReady } from './lib/http.mjs';
import { ensureImages } from './lib/images.mjs';
import { freePort, memoryOf, runQuiet, spawnTracked, stop, stopAll } from './lib/proc.mjs';
import { rng } from './lib/random.mjs';
import { ARCHITECTURES_HEADING, ARCHITECTURES_SECTION, writeArchitecturesDocs } from './lib/results-docs.mjs';
import { summarize } from './lib/stats.mjs';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const CLI = join(ROOT, 'dist', 'cli.js');
const MAKE_FIXTURES = join(ROOT, 'test', 'fixtures', 'make_arch_fixtures.py');
const PYTORCH_INFER = join(ROOT, 'bench', 'baseline', 'arch_infer.py');
const VENV_PYTHON = join(ROOT, '.cache', 'venv', 'bin', 'python');

/** The architectures of issue #17's table, in its order. */
export const ARCHITECTURES = Object.freeze([
  'resnet18',
  'resnet50',
  'mobilenet_v3_large',
  'mobilenet_v3_small',
  'efficientnet_b0',
  'regnet_y_400mf',
  'convnext_tiny',
]);
const PRECISIONS = ['fp32', 'int8'];
/** The photo every HTTP measurement posts (as run.mjs's concurrency sweep). */
const PHOTO = '640x480.jpg';
const CONCURRENCY = 16;
/**
 * int8 calibration photos (test/fixtures/images, committed): every family but ResNet needs some, and all get the
 * same ones so that the int8 rows are made alike. The ranges they give change which values the kernels see, not
 * how long they take.
 */
const CALIBRATION_PHOTOS = [
  'photo-500x375.jpg',
  'landscape-475x300.jpg',
  'portrait-301x477.jpg',
  'large-1400x1050.jpg',
  'gray-320x240.jpg',
  'palette-300x260.png',
  'tiny-150x100.png',
  'alpha-260x230.png',
];

/**
 * Repetitions. Inference: up to `runs` timed runs per model, in blocks of `block` alternating between ours (fp32,
 * int8) and PyTorch, stopping once each has `minRuns` and `inferSeconds` have passed for it (so bigger models get
 * fewer runs); HTTP: up to `httpReps` sequential requests, stopping after `httpSeconds` once `httpMinReps` are in;
 * then `loadSeconds` (≤ `loadMax` requests) of 16 clients. Full: ~10 minutes for the seven on 2 cores.
 */
export const CONFIGS = Object.freeze({
  full: {
    mode: 'full',
    runs: 30,
    minRuns: 10,
    block: 5,
    inferSeconds: 5,
    httpReps: 20,
    httpMinReps: 8,
    httpSeconds: 4,
    loadSeconds: 6,
    loadMax: 1500,
  },
  quick: {
    mode: 'quick',
    runs: 10,
    minRuns: 5,
    block: 5,
    inferSeconds: 1.5,
    httpReps: 8,
    httpMinReps: 4,
    httpSeconds: 2,
    loadSeconds: 2,
    loadMax: 300,
  },
});
/** Hard limits on each child's work, far above what a healthy run takes. */
const TIMEOUTS = { fixtures: 600_000, prepare: 300_000, pytorchStart: 180_000, pytorchBlock: 120_000 };

const defaultLog = (message) => process.stderr.write(`bench architectures: ${message}\n`);

export function cpuModel() {
  const cpuinfo = readFileSync('/proc/cpuinfo', 'utf8');
  return /^model name\s*:\s*(.+)$/m.exec(cpuinfo)?.[1]?.trim() ?? cpus()[0]?.model ?? 'unknown';
}

const loadAverage = () =>
  loadavg()
    .map((x) => x.toFixed(2))
    .join(' ');

const STUB_TORCHVISION_OPS = "import sys, types; sys.modules['torchvision._meta_registrations'] = types.ModuleType('m'); ";

/**
 * The first Python of `candidates` that imports torch and torchvision (needed both to make the synthetic
 * state_dicts and for the baseline), or the reason there is none.
 */
async function findPython(candidates) {
  const reasons = [];
  for (const python of candidates) {
    const { code, stderr } = await runQuiet(python, ['-c', `${STUB_TORCHVISION_OPS}import torch, torchvision`], {
      timeoutMs: 120_000,
    }).catch((e) => ({ code: -1, stderr: String(e) }));
    if (code === 0) return { ok: true, python };
    reasons.push(`${python}: ${stderr.trim().split('\n').at(-1) || 'not found'}`);
  }
  return { ok: false, reason: `no Python with torch and torchvision (${reasons.join('; ')})` };
}

/** `explicit` (--python) first, then $RESNET_SERVE_BENCH_PYTHON, the venv .ci/run makes, python3. */
export function pythonCandidates(explicit) {
  const all = [explicit, process.env.RESNET_SERVE_BENCH_PYTHON, existsSync(VENV_PYTHON) ? VENV_PYTHON : undefined, 'python3'];
  return [...new Set(all.filter((p) => p !== undefined && p !== ''))];
}

/** DIR/ARCH.pth for each architecture, made by make_arch_fixtures.py where `weightsDir` lacks one. */
async function ensureWeights(archs, weightsDir, python, env, log) {
  const missing = archs.filter((arch) => !existsSync(join(weightsDir, `${arch}.pth`)));
  if (missing.length > 0 && python.ok) {
    log(`making synthetic state_dicts (${missing.join(', ')}) with ${python.python}`);
    const { code, stderr } = await runQuiet(python.python, [MAKE_FIXTURES, 'weights', '--out', weightsDir, ...missing], {
      env,
      timeoutMs: TIMEOUTS.fixtures,
    });
    if (code !== 0) log(`make_arch_fixtures.py failed: ${stderr.trim().split('\n').slice(-2).join(' | ')}`);
  }
  return Object.fromEntries(archs.map((arch) => [arch, join(weightsDir, `${arch}.pth`)]).filter(([, path]) => existsSync(path)));
}

const precisionArgs = (precision, calibration) => (precision === 'fp32' ? [] : ['--precision', precision, '--calibration', calibration]);

/**
 * One `classify` with the arguments `serve` will get: converts (and for int8 calibrates) the weights into the
 * cache and compiles the model for this CPU there, so the server below starts as it does on every later start.
 * @returns the cached .onnx file that classify made.
 */
async function prepare(ctx, arch, precision) {
  const models = join(ctx.home, 'models');
  const before = new Set(existsSync(models) ? readdirSync(models) : []);
  const t0 = performance.now();
  const { code, stderr } = await runQuiet(process.execPath, [CLI, 'classify', ...ctx.modelArgs(arch, precision), ctx.photoPath], {
    env: ctx.env,
    timeoutMs: TIMEOUTS.prepare,
  });
  const ms = performance.now() - t0;
  if (code !== 0) throw new Error(`classify --arch ${arch} ${precision}: ${stderr.trim().split('\n').slice(-2).join(' | ')}`);
  const made = readdirSync(models).filter((name) => !before.has(name) && name.startsWith(`${arch}-`) && name.endsWith('.onnx'));
  if (made.length !== 1) throw new Error(`classify --arch ${arch} ${precision} cached ${made.length} models, not one`);
  return { model: join(models, made[0]), prepareMs: ms };
}

/** The PyTorch baseline process for one architecture: started once, asked for blocks of timed runs over stdin. */
async function startPytorch(ctx, arch, weights) {
  const child = spawnTracked(
    ctx.python.python,
    [PYTORCH_INFER, '--arch', arch, '--weights', weights, '--threads', String(ctx.threads), '--serve'],
    { env: ctx.env, stdio: ['pipe', 'pipe', 'pipe'] },
  );
  const lines = createInterface({ input: child.stdout });
  const queue = [];
  const waiting = [];
  lines.on('line', (line) => (waiting.length > 0 ? waiting.shift()(line) : queue.push(line)));
  const next = (timeoutMs) =>
    new Promise((resolveLine, reject) => {
      if (queue.length > 0) return resolveLine(queue.shift());
      const timer = setTimeout(() => reject(new Error(`PyTorch ${arch} gave no answer within ${timeoutMs} ms`)), timeoutMs);
      const exited = () => reject(new Error(`PyTorch ${arch} exited: ${child.stderrTail.trim().split('\n').slice(-2).join(' | ')}`));
      void child.exited.then(exited);
      waiting.push((line) => {
        clearTimeout(timer);
        resolveLine(line);
      });
    });
  try {
    const ready = JSON.parse(await next(TIMEOUTS.pytorchStart));
    return {
      runtime: ready.runtime,
      /** `n` timed forward passes, in ms. */
      run: async (n) => {
        child.stdin.write(`${n}\n`);
        return JSON.parse(await next(TIMEOUTS.pytorchBlock)).infer_ms;
      },
      close: async () => {
        child.stdin.end();
        await stop(child);
      },
    };
  } catch (error) {
    await stop(child);
    throw error;
  }
}

/** Our serving engine on a cached model, as `serve` opens it: ORT in its thread, compiled for this CPU. */
async function openEngine(ctx, model) {
  const contract = await readModelContract(model);
  const engine = await InferenceEngine.create(model, { threads: ctx.threads, cacheDir: ctx.home, contract });
  const size = contract.recipe.cropSize;
  const random = rng(17);
  const input = Float32Array.from({ length: 3 * size * size }, () => (random() - 0.45) * 4);
  return {
    run: async (n) => {
      const ms = [];
      for (let i = 0; i < n; i++) {
        const t = performance.now();
        await engine.infer(input, 1);
        ms.push(performance.now() - t);
      }
      return ms;
    },
    close: () => engine.release(),
  };
}

const pause = (ms) => new Promise((done) => setTimeout(done, ms));

/**
 * Batch-1 times of every participant ({ name, run(n), close }), in blocks of `block` runs taking turns, with a
 * pause between blocks (spinning ORT and OpenMP threads settle), each stopping at `runs`, or once it has
 * `minRuns` and `inferSeconds` of its own time. The first block of each is warm-up, left out.
 */
async function alternate(participants, config) {
  const samples = Object.fromEntries(participants.map((p) => [p.name, []]));
  const spent = Object.fromEntries(participants.map((p) => [p.name, 0]));
  const done = (name) =>
    samples[name].length >= config.runs || (samples[name].length >= config.minRuns && spent[name] >= config.inferSeconds * 1000);
  for (const p of participants) await p.run(Math.min(3, config.block));
  while (participants.some((p) => !done(p.name))) {
    for (const p of participants) {
      if (done(p.name)) continue;
      const ms = await p.run(Math.min(config.block, config.runs - samples[p.name].length));
      samples[p.name].push(...ms);
      spent[p.name] += ms.reduce((a, b) => a + b, 0);
      await pause(100);
    }
  }
  return samples;
}

/** A `serve` process on the cached model; HTTP p50, throughput under 16 clients, then its VmHWM. */
async function benchServer(ctx, arch, precision) {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const child = spawnTracked(CLI, ['serve', ...ctx.modelArgs(arch, precision), '--host', '127.0.0.1', '--port', String(port)], {
    env: ctx.env,
  });
  child.stdout.resume();
  try {
    const t0 = performance.now();
    await waitReady(`${url}/readyz`, child);
    const startupMs = performance.now() - t0;
    const { config } = ctx;
    const ms = [];
    const deadline = performance.now() + config.httpSeconds * 1000;
    for (let i = 0; i < config.httpReps && (i < config.httpMinReps || performance.now() < deadline); i++) {
      const r = await post(`${url}/predict`, ctx.upload);
      if (r.status !== 200) throw new Error(`POST /predict answered ${r.status || 'nothing'}`);
      if (i > 0) ms.push(r.ms); // the first request warms the connection and the decoder up
    }
    const load = await closedLoop(`${url}/predict`, [ctx.upload], {
      concurrency: CONCURRENCY,
      maxRequests: config.loadMax,
      durationMs: config.loadSeconds * 1000,
    });
    return {
      startupMs,
      http: summarize(ms),
      throughput: load.ok / (load.elapsedMs / 1000),
      failed: load.failed,
      statuses: load.statuses,
      hwmMb: memoryOf(child.pid).hwmMb,
    };
  } finally {
    await stop(child);
  }
}

async function benchArchitecture(ctx, arch, weights) {
  const result = { arch, errors: [], rows: {} };
  const attempt = async (what, fn) => {
    try {
      return await fn();
    } catch (error) {
      result.errors.push(`${what}: ${messageOf(error)}`);
      ctx.log(`${arch}: ${what} failed: ${result.errors.at(-1)}`);
      return undefined;
    }
  };
  for (const precision of PRECISIONS) {
    ctx.log(`${arch} ${precision}: convert, calibrate and compile into the cache (one classify)`);
    const prepared = await attempt(`${precision} convert`, () => prepare(ctx, arch, precision));
    result.rows[precision] = { precision, ...prepared, weightsMb: prepared && statSync(prepared.model).size / 2 ** 20 };
  }

  const participants = [];
  try {
    for (const precision of PRECISIONS) {
      const { model } = result.rows[precision];
      if (model === undefined) continue;
      const engine = await attempt(`${precision} engine`, () => openEngine(ctx, model));
      if (engine) participants.push({ name: precision, ...engine });
    }
    if (ctx.python.ok) {
      const pytorch = await attempt('pytorch', () => startPytorch(ctx, arch, weights));
      if (pytorch) {
        participants.push({ name: 'pytorch', ...pytorch });
        result.pytorchRuntime = pytorch.runtime;
      }
    }
    if (participants.length > 0) {
      ctx.log(`${arch}: batch-1 inference, ${participants.map((p) => p.name).join(' / ')} in alternating blocks`);
      const samples = await attempt('inference', () => alternate(participants, ctx.config));
      for (const [name, ms] of Object.entries(samples ?? {})) {
        if (name === 'pytorch') result.pytorch = summarize(ms);
        else result.rows[name].infer = summarize(ms);
      }
    }
  } finally {
    for (const p of participants) await p.close().catch(() => {});
  }

  for (const precision of PRECISIONS) {
    if (result.rows[precision].model === undefined) continue;
    ctx.log(`${arch} ${precision}: serve → HTTP p50 → ${CONCURRENCY} clients for ${ctx.config.loadSeconds} s`);
    result.rows[precision].server = await attempt(`${precision} server`, () => benchServer(ctx, arch, precision));
  }
  return result;
}

/**
 * Runs the whole table. `python` is the --python to try first (then $RESNET_SERVE_BENCH_PYTHON, .cache/venv,
 * python3: the first that imports torch and torchvision); `weightsDir` a folder of ARCH.pth to use instead of making them (for a machine
 * without torch: the table is made, the PyTorch column shows —).
 */
export async function benchArchitectures({
  archs = ARCHITECTURES,
  config = CONFIGS.full,
  python,
  threads,
  weightsDir,
  log = defaultLog,
} = {}) {
  const unknown = archs.filter((arch) => TORCHVISION_WEIGHTS[arch] === undefined);
  if (unknown.length > 0) throw new Error(`unknown architecture ${unknown.join(', ')} (not in src/weights/torchvision-weights.ts)`);
  const started = new Date();
  const work = mkdtempSync(join(tmpdir(), 'resnet-serve-bench-arch-'));
  const cleanUp = () => rmSync(work, { recursive: true, force: true });
  process.once('exit', cleanUp);
  try {
    const home = join(work, 'home');
    const calibration = join(work, 'calibration');
    mkdirSync(calibration, { recursive: true });
    for (const name of CALIBRATION_PHOTOS) copyFileSync(join(ROOT, 'test', 'fixtures', 'images', name), join(calibration, name));
    const images = await ensureImages(join(ROOT, 'bench', '.work', 'images'));
    const photo = images.find((i) => i.name === PHOTO);
    const env = { ...process.env, RESNET_SERVE_HOME: home, MALLOC_ARENA_MAX: '2' };
    const ctx = {
      config,
      log,
      home,
      env,
      threads: threads ?? cpus().length,
      python: await findPython(pythonCandidates(python)),
      photoPath: photo.path,
      upload: multipartBody(photo.bytes, photo.name, 'image/jpeg'),
    };
    if (!ctx.python.ok) log(`PyTorch baseline: n/a — ${ctx.python.reason}`);
    const loadBefore = loadAverage();
    if (Number(loadBefore.split(' ')[0]) > cpus().length * 0.5) {
      log(`warning: the machine is busy (load average ${loadBefore}); numbers will be noisy`);
    }
    const weightsOf = await ensureWeights(archs, weightsDir ?? join(work, 'weights'), ctx.python, env, log);
    ctx.modelArgs = (arch, precision) => [
      '--home',
      home,
      '--arch',
      arch,
      '--weights',
      weightsOf[arch],
      '--threads',
      String(ctx.threads),
      ...precisionArgs(precision, calibration),
    ];
    const results = [];
    for (const arch of archs) {
      if (weightsOf[arch] === undefined) {
        results.push({ arch, errors: ['no state_dict (needs a Python with torch and torchvision, or --weights-dir)'], rows: {} });
        continue;
      }
      results.push(await benchArchitecture(ctx, arch, weightsOf[arch]));
    }
    const require = (await import('node:module')).createRequire(import.meta.url);
    return {
      started,
      elapsedS: (Date.now() - started.getTime()) / 1000,
      cpu: cpuModel(),
      cores: cpus().length,
      threads: ctx.threads,
      loadBefore,
      loadAfter: loadAverage(),
      runtime: `Node ${process.version}, onnxruntime-node ${require('onnxruntime-node/package.json').version}`,
      pytorch: ctx.python.ok ? { ok: true, runtime: results.find((r) => r.pytorchRuntime)?.pytorchRuntime } : ctx.python,
      config,
      results,
    };
  } finally {
    process.removeListener('exit', cleanUp);
    cleanUp();
  }
}

const fixed = (digits) => (x) => (x === undefined || Number.isNaN(x) ? 'n/a' : x.toFixed(digits));
const f0 = fixed(0);
const f1 = fixed(1);
const f2 = fixed(2);

export const COLUMNS = [
  'architecture',
  'precision',
  'inference p50 (ms)',
  'PyTorch fp32 p50 (ms)',
  'ours ÷ PyTorch',
  'HTTP p50 (ms)',
  `${CONCURRENCY} clients (img/s)`,
  'server peak RSS (MB)',
  'weights (MB)',
  'top-1 (card, %)',
  'GFLOPs (card)',
];

/** The table's rows as strings, in COLUMNS' order. */
export function tableRows(run) {
  return run.results.flatMap((r) => {
    const { meta } = TORCHVISION_WEIGHTS[r.arch];
    return PRECISIONS.map((precision) => {
      const row = r.rows[precision] ?? {};
      const ours = row.infer?.p50;
      const base = r.pytorch?.p50;
      return [
        `\`${r.arch}\``,
        precision,
        f1(ours),
        run.pytorch.ok ? f1(base) : '—',
        run.pytorch.ok && ours !== undefined && base !== undefined ? f2(ours / base) : '—',
        f1(row.server?.http.p50),
        f1(row.server?.throughput),
        f0(row.server?.hwmMb),
        f1(row.weightsMb),
        meta.acc1.toFixed(1),
        meta.gflops.toFixed(2),
      ];
    });
  });
}

/** The section's bullets, table and notes, as bench/results.md holds it between its markers. */
export function architecturesMarkdown(run, command = 'node bench/architectures.mjs') {
  const c = run.config;
  const row = (cells) => `| ${cells.join(' | ')} |`;
  const failures = run.results.flatMap((r) => [
    ...r.errors.map((e) => `${r.arch}: ${e}`),
    ...PRECISIONS.flatMap((p) => {
      const s = r.rows[p]?.server;
      return s && s.failed > 0
        ? [`${r.arch} ${p}: ${s.failed} of the ${CONCURRENCY}-client requests failed ${JSON.stringify(s.statuses)}`]
        : [];
    }),
  ]);
  const runs = run.results.flatMap((r) =>
    r.rows.fp32?.infer === undefined ? [] : [`${r.arch} ${r.rows.fp32.infer.n}${r.pytorch ? `/${r.pytorch.n}` : ''}`],
  );
  return [
    `Written by \`${command}\` (bench/architectures.mjs); synthetic weights, so the top-1 column is the model card's, not measured.`,
    '',
    `- date: ${run.started.toISOString()} (${c.mode} run, ${run.elapsedS.toFixed(0)} s)`,
    `- CPU: ${run.cpu}, ${run.cores} cores; ${run.threads} inference threads on both sides`,
    `- load average (1/5/15 min): before ${run.loadBefore}, after ${run.loadAfter}`,
    `- ours: ${run.runtime}`,
    `- pytorch: ${run.pytorch.ok ? (run.pytorch.runtime ?? 'n/a') : `n/a — ${run.pytorch.reason}`}`,
    `- settings: batch-1 runs per model up to ${c.runs} (≥ ${c.minRuns}, fewer past ${c.inferSeconds} s: timed runs fp32 and, after the slash, PyTorch: ${runs.join(', ')}), ` +
      `in blocks of ${c.block} alternating ours fp32 / int8 / PyTorch; HTTP: up to ${c.httpReps} sequential POST /predict of ${PHOTO}; ` +
      `${CONCURRENCY} clients for ${c.loadSeconds} s (≤ ${c.loadMax} requests); int8 calibrated on ${CALIBRATION_PHOTOS.length} photos of test/fixtures/images`,
    '',
    row(COLUMNS),
    row(COLUMNS.map((_, i) => (i < 2 ? '---' : '---:'))),
    ...tableRows(run).map(row),
    '',
    '- inference p50: the serving engine (ONNX Runtime session in its thread, the model compiled for this CPU) on one 224×224 tensor; ' +
      'PyTorch: TorchVision’s module with the same state_dict, eval mode, `torch.inference_mode()`, same thread count, fp32. ' +
      'ours ÷ PyTorch below 1 is faster; the int8 rows divide by the same PyTorch fp32 time.',
    `- HTTP p50: one ${PHOTO} (decode, resize, crop, inference, JSON) to a \`serve\` process, sequential; ${CONCURRENCY} clients: closed loop on the same photo; ` +
      'server peak RSS: its VmHWM after both. weights: the ONNX file `serve` runs (fp32 folded BatchNorm; int8 QDQ). MB are MiB, as the card’s file sizes.',
    '- top-1 and GFLOPs: the model card of the DEFAULT TorchVision weights (src/weights/torchvision-weights.ts), for fp32; the int8 rows repeat them unmeasured.',
    ...failures.map((f) => `- ${f}`),
  ].join('\n');
}

/** Plain text for the terminal. */
export function architecturesText(run) {
  const body = tableRows(run).map((cells) => cells.map((c) => c.replaceAll('`', '')));
  const widths = COLUMNS.map((h, i) => Math.max(h.length, ...body.map((r) => r[i].length)));
  const line = (cells) => cells.map((c, i) => (i < 2 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ');
  return [
    `CPU: ${run.cpu}, ${run.cores} cores; ${run.threads} threads; ${run.elapsedS.toFixed(0)} s`,
    `pytorch: ${run.pytorch.ok ? run.pytorch.runtime : `n/a — ${run.pytorch.reason}`}`,
    '',
    line(COLUMNS),
    widths.map((w) => '-'.repeat(w)).join('  '),
    ...body.map(line),
  ].join('\n');
}

/**
 * bench/results.md with its architectures section set to `section` (added at the end when it has none yet).
 * The rest of the file, run.mjs's table, is left as it is.
 */
export function withArchitecturesSection(results, section) {
  const start = `<!-- ${ARCHITECTURES_SECTION} -->`;
  const end = `<!-- /${ARCHITECTURES_SECTION} -->`;
  const from = results.indexOf(start);
  const to = results.indexOf(end);
  if (from >= 0 && to > from) return `${results.slice(0, from + start.length)}\n${section}\n${results.slice(to)}`;
  return `${results.trimEnd()}\n\n${ARCHITECTURES_HEADING}\n\n${start}\n${section}\n${end}\n`;
}

const USAGE = `Usage: node bench/architectures.mjs [options] [ARCH...]   (default: ${ARCHITECTURES.join(' ')})
  --quick            fewer runs (about a third of the time)
  --runs N           at most N batch-1 runs per model (default ${CONFIGS.full.runs}; bigger models stop earlier, after ${CONFIGS.full.inferSeconds} s)
  --python PATH      Python with torch and torchvision (tried first; then $RESNET_SERVE_BENCH_PYTHON, .cache/venv, python3)
  --threads N        ONNX Runtime and torch threads (default the machine's cores)
  --weights-dir DIR  ARCH.pth files to use instead of making them (a machine without torch); missing ones are made there
  --out FILE         results file whose architectures section to rewrite (default bench/results.md; "-" for none);
                     bench/results.md also rewrites docs/models.md's table`;

async function main() {
  const { values, positionals } = parseArgs({
    options: {
      quick: { type: 'boolean', default: false },
      runs: { type: 'string' },
      python: { type: 'string' },
      threads: { type: 'string' },
      'weights-dir': { type: 'string' },
      out: { type: 'string', default: join('bench', 'results.md') },
      help: { type: 'boolean', short: 'h' },
    },
    allowPositionals: true,
  });
  if (values.help) {
    console.log(USAGE);
    return;
  }
  const config = { ...(values.quick ? CONFIGS.quick : CONFIGS.full) };
  if (values.runs !== undefined) {
    config.runs = Number(values.runs);
    if (!Number.isInteger(config.runs) || config.runs < 1) throw new Error(`--runs must be a positive integer, not ${values.runs}`);
    config.minRuns = Math.min(config.minRuns, config.runs);
  }
  const run = await benchArchitectures({
    archs: positionals.length > 0 ? positionals : ARCHITECTURES,
    config,
    python: values.python,
    threads: values.threads === undefined ? undefined : Number(values.threads),
    weightsDir: values['weights-dir'] === undefined ? undefined : resolve(values['weights-dir']),
  });
  console.log(`\n${architecturesText(run)}\n`);
  if (values.out !== '-') {
    const out = resolve(ROOT, values.out);
    const command = `node bench/architectures.mjs${process.argv.length > 2 ? ` ${process.argv.slice(2).join(' ')}` : ''}`;
    const previous = existsSync(out) ? await readFile(out, 'utf8') : '# resnet-serve benchmark results\n';
    const results = withArchitecturesSection(previous, architecturesMarkdown(run, command));
    await writeFile(out, results);
    defaultLog(`wrote its section of ${values.out}`);
    if (out === resolve(ROOT, 'bench', 'results.md')) {
      await writeArchitecturesDocs(ROOT, results);
      defaultLog('wrote its table into docs/models.md');
    }
  }
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  try {
    await main();
  } catch (error) {
    console.error('bench architectures:', error);
    process.exitCode = 1;
  } finally {
    await stopAll();
  }
}
