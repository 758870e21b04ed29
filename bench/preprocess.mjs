// The preprocessing step alone, no model: TypeScript reference kernel vs WebAssembly SIMD kernel, each with
// Pillow's BILINEAR and BICUBIC; with --python, OpenCV as the PyTorch baseline does it
// (bench/baseline/preprocess_bench.py); with --pil, torchvision's own transforms on PIL, whose output the kernels
// reproduce bit for bit (bench/baseline/pil_preprocess_bench.py). A targeted run takes ~30 s, where the full
// `npm run bench` takes minutes; ratios are within one run.
//
// Run: npm run build && node bench/preprocess.mjs [--runs 30] [--python PATH] [--pil PATH] [--json]
//   --python: a Python with opencv-python-headless and numpy; --pil: one with torch, pillow and torchvision.
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { ensureImages } from './lib/images.mjs';
import { KERNEL, timeKernels } from './lib/kernel-timing.mjs';
import { runJson } from './lib/proc.mjs';
import { summarize } from './lib/stats.mjs';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const { values } = parseArgs({
  options: {
    runs: { type: 'string', default: '30' },
    python: { type: 'string' },
    pil: { type: 'string' },
    json: { type: 'boolean', default: false },
  },
});
const runs = Number(values.runs);

const images = await ensureImages(join(ROOT, 'bench', '.work', 'images'));
const results = {};
for (const image of images) {
  process.stderr.write(`preprocess: ${image.name}\n`);
  const samples = await timeKernels(image.bytes, runs);
  results[image.name] = Object.fromEntries(Object.entries(samples).map(([k, v]) => [k, summarize(v)]));
}
if (values.python !== undefined) {
  process.stderr.write('preprocess: OpenCV (bench/baseline/preprocess_bench.py)\n');
  const script = join(ROOT, 'bench', 'baseline', 'preprocess_bench.py');
  const raw = await runJson(values.python, [script, '--runs', String(runs), ...images.map((i) => i.path)], { timeoutMs: 300_000 });
  for (const image of images) results[image.name].opencv = summarize(raw.preprocess_ms[image.path]);
}
let pillow;
if (values.pil !== undefined) {
  process.stderr.write('preprocess: torchvision + PIL (bench/baseline/pil_preprocess_bench.py)\n');
  const script = join(ROOT, 'bench', 'baseline', 'pil_preprocess_bench.py');
  const raw = await runJson(values.pil, [script, '--runs', String(runs), ...images.map((i) => i.path)], { timeoutMs: 600_000 });
  pillow = raw.pillow;
  for (const image of images) {
    const r = raw.results[image.path];
    Object.assign(results[image.name], {
      pilBilinear: summarize(r.bilinear.transforms_ms),
      pilBicubic: summarize(r.bicubic.transforms_ms),
      pilBilinearEndToEnd: summarize(r.bilinear.end_to_end_ms),
      pilBicubicEndToEnd: summarize(r.bicubic.end_to_end_ms),
    });
  }
}

if (values.json) {
  process.stdout.write(JSON.stringify({ kernel: KERNEL, runs, pillow, results }, null, 1));
} else {
  const f = (x) => (x === undefined || Number.isNaN(x) ? 'n/a' : x.toFixed(2));
  // On a loaded machine the fastest runs show the work itself best (other tenants only ever add time).
  const ratios = (a, b) => (a === undefined || b === undefined ? 'n/a' : `${f(a.p50 / b.p50)} (${f(a.min / b.min)})`);
  const lines = [`kernel in use: ${KERNEL}; ${runs} runs per image; p50 (mean) in ms`];
  lines.push(
    [
      'image',
      'header',
      'decode',
      'resample TS',
      'resample SIMD',
      'TS/SIMD',
      'header+decode+TS',
      'header+decode+SIMD',
      'TS/SIMD',
      'preprocess()',
      'OpenCV',
      'preprocess()/OpenCV',
    ].join(' | '),
  );
  for (const [name, r] of Object.entries(results)) {
    const cell = (s) => (s === undefined ? 'n/a' : `${f(s.p50)} (${f(s.mean)})`);
    lines.push(
      [
        name,
        cell(r.header),
        cell(r.decode),
        cell(r.resampleReference),
        cell(r.resampleSimd),
        f(r.resampleReference.p50 / r.resampleSimd.p50),
        cell(r.preprocessReference),
        cell(r.preprocessSimd),
        f(r.preprocessReference.p50 / r.preprocessSimd.p50),
        cell(r.preprocess),
        cell(r.opencv),
        r.opencv ? f(r.preprocess.p50 / r.opencv.p50) : 'n/a',
      ].join(' | '),
    );
  }
  lines.push(
    '',
    `BICUBIC (efficientnet_b0: 256 → 224) against BILINEAR (resnet18) and against torchvision + PIL${pillow ? ` ${pillow}` : ''}; p50 (mean) in ms; ratios of p50 (of min)`,
    [
      'image',
      'SIMD bilinear',
      'SIMD bicubic',
      'bicubic/bilinear',
      'TS bicubic',
      'TS/SIMD bicubic',
      'PIL bilinear',
      'PIL bicubic',
      'SIMD/PIL bilinear',
      'SIMD/PIL bicubic',
      'preprocess() bicubic',
      'PIL open+transforms bicubic',
      'preprocess()/PIL bicubic',
    ].join(' | '),
  );
  for (const [name, r] of Object.entries(results)) {
    const cell = (s) => (s === undefined ? 'n/a' : `${f(s.p50)} (${f(s.mean)})`);
    lines.push(
      [
        name,
        cell(r.resampleSimd),
        cell(r.resampleSimdBicubic),
        ratios(r.resampleSimdBicubic, r.resampleSimd),
        cell(r.resampleReferenceBicubic),
        ratios(r.resampleReferenceBicubic, r.resampleSimdBicubic),
        cell(r.pilBilinear),
        cell(r.pilBicubic),
        ratios(r.resampleSimd, r.pilBilinear),
        ratios(r.resampleSimdBicubic, r.pilBicubic),
        cell(r.preprocessBicubic),
        cell(r.pilBicubicEndToEnd),
        ratios(r.preprocessBicubic, r.pilBicubicEndToEnd),
      ].join(' | '),
    );
  }
  console.log(lines.join('\n'));
}
