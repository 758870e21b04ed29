// The memory floor under our servers: a bare Node process holding nothing but the ONNX Runtime session, on the
// model compiled exactly as the server loads it, after a few runs; no HTTP, no image decoding, no sharp.
// Prints JSON for bench/run.mjs: what any server built on this stack holds before its first request.
//
// Run: node bench/floor.mjs --model M [--runs 20]
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import ort from 'onnxruntime-node';
import { compileForThisCpu } from '../dist/engine/compile.js';
import { engineSessionOptions } from '../dist/engine/inference-engine.js';
import { THREADS } from '../dist/engine/threads.js';
import { cacheDir } from '../dist/files/cache-dir.js';
import { INPUT_ELEMENTS } from '../dist/image/recipe.js';

const { values } = parseArgs({ options: { model: { type: 'string' }, runs: { type: 'string', default: '20' } } });
if (values.model === undefined) throw new Error('usage: floor.mjs --model M [--runs N]');

const status = () => readFileSync('/proc/self/status', 'utf8');
const mb = (text, field) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(text)?.[1]) / 1024;
const beforeSessionMb = mb(status(), 'VmRSS');
const session = await ort.InferenceSession.create(
  await compileForThisCpu(values.model, cacheDir()),
  engineSessionOptions(THREADS.default, true),
);
const input = new ort.Tensor('float32', new Float32Array(INPUT_ELEMENTS), [1, 3, 224, 224]);
for (let i = 0; i < Number(values.runs); i++) await session.run({ [session.inputNames[0]]: input });
const end = status();
process.stdout.write(JSON.stringify({ rss_before_session_mb: beforeSessionMb, rss_mb: mb(end, 'VmRSS'), peak_rss_mb: mb(end, 'VmHWM') }));
