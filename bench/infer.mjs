// Our side's pure-inference numbers, as JSON on stdout (bench/run.mjs reads them; same shape as
// bench/baseline/infer_bench.py). Uses only the library API from dist/: createClassifier() is timed as the
// classifier's load (ONNX Runtime session + contract check + warm-up run), then `runs` times per image one
// classify() at batch 1, whose timings_ms split preprocessing (decode+resize+normalise) from the ORT run;
// then the session alone, back to back (engine_ms); then the resample kernels taken apart per image
// (bench/lib/kernel-timing.mjs: TypeScript reference vs WebAssembly SIMD on the same decoded pixels).
//
// Run: node bench/infer.mjs --model M [--precision fp32|int8] [--runs 20] IMAGE...
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { parseArgs } from 'node:util';
import sharp from 'sharp';
import { InferenceEngine } from '../dist/engine/inference-engine.js';
import { cacheDir, createClassifier, DEFAULTS, preprocess } from '../dist/index.js';
import { readModelContract } from '../dist/model/read-contract.js';
import { KERNEL, timeKernels } from './lib/kernel-timing.mjs';

const { values, positionals } = parseArgs({
  options: {
    model: { type: 'string' },
    precision: { type: 'string', default: 'fp32' },
    runs: { type: 'string', default: '20' },
    warmup: { type: 'string', default: '3' },
  },
  allowPositionals: true,
});
if (values.model === undefined || positionals.length === 0) throw new Error('usage: infer.mjs --model M [--runs N] IMAGE...');

function memory() {
  const status = readFileSync('/proc/self/status', 'utf8');
  const mb = (field) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1]) / 1024;
  return { rssMb: mb('VmRSS'), hwmMb: mb('VmHWM') };
}

const require = createRequire(import.meta.url);
const images = await Promise.all(positionals.map(async (path) => ({ path, bytes: await readFile(path) })));
const rssBeforeLoad = memory().rssMb;
const t0 = performance.now();
// batchWaitMs 0: a lone request need not wait for company here; inference timing is unaffected either way.
const classifier = await createClassifier({ model: values.model, precision: values.precision, batchWaitMs: 0 });
const loadMs = performance.now() - t0;

const inferMs = [];
const preprocessMs = {};
for (let i = 0; i < Number(values.warmup); i++) await classifier.classify(images[0].bytes);
for (const { path, bytes } of images) {
  preprocessMs[path] = [];
  for (let i = 0; i < Number(values.runs); i++) {
    const { timings_ms: timings } = await classifier.classify(bytes);
    preprocessMs[path].push(timings.decode);
    inferMs.push(timings.inference);
  }
}
await classifier.close();

// The session alone, back to back on one prepared input: the number to hold against the compute floor,
// with no decode between runs competing for the caches and the two cores.
const engine = await InferenceEngine.create(values.model, {
  threads: DEFAULTS.threads,
  cacheDir: cacheDir(),
  contract: await readModelContract(values.model),
});
const input = await preprocess(images[0].bytes);
const engineMs = [];
for (let i = 0; i < Number(values.warmup); i++) await engine.infer(input, 1);
for (let i = 0; i < Number(values.runs) * images.length; i++) {
  const t = performance.now();
  await engine.infer(input, 1);
  engineMs.push(performance.now() - t);
}
await engine.release();

const kernels = {};
for (const { path, bytes } of images) {
  const { resampleReference, resampleSimd, preprocessReference, preprocessSimd } = await timeKernels(
    bytes,
    Number(values.runs),
    Number(values.warmup),
  );
  kernels[path] = { resampleReference, resampleSimd, preprocessReference, preprocessSimd };
}
const { rssMb, hwmMb } = memory();
const ort = require('onnxruntime-node/package.json').version;
process.stdout.write(
  JSON.stringify({
    runtime: `Node ${process.version}, onnxruntime-node ${ort}, sharp ${sharp.versions.sharp} (libvips ${sharp.versions.vips})`,
    load_ms: loadMs,
    infer_ms: inferMs,
    engine_ms: engineMs,
    preprocess_ms: preprocessMs,
    resample_kernel: KERNEL,
    kernels_ms: kernels,
    rss_before_load_mb: rssBeforeLoad,
    rss_mb: rssMb,
    peak_rss_mb: hwmMb,
  }),
);
