// What explanations cost, on the full-width ResNet-18 graph (synthetic weights: same ops and shapes as the real
// one), through the engine the server uses:
//   1. plain requests, model with vs without the `features` output (only `logits` fetched): exposing it must be free;
//   2. an explained request: `features` fetched too, plus the top-3 maps (rawCam + normaliseCam), against plain.
// Interleaved rounds so drift on a shared machine hits every variant alike; medians of per-run times.
//
// Run: npm run build && node bench/explain.mjs [--precision fp32|int8] [--runs 40] [--batch 1]
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { InferenceEngine } from '../dist/engine/inference-engine.js';
import { CAM_CELLS, normaliseCam, rawCam } from '../dist/explain/cam.js';
import { buildResNetGraph } from '../dist/model/architectures/resnet.js';
import { readClassifierHead } from '../dist/model/classifier-head.js';
import { fileSource } from '../dist/model/onnx/file-source.js';
import { encodeModel } from '../dist/model/onnx/proto.js';
import { dataFreeRanges } from '../dist/model/quantize/calibrate-data-free.js';
import { quantizeGraph } from '../dist/model/quantize/graph.js';
import { readSafetensors } from '../dist/weights/safetensors.js';
import { writeSyntheticWeights } from './lib/synthetic-weights.mjs';

const { values } = parseArgs({
  options: {
    precision: { type: 'string', default: 'fp32' },
    runs: { type: 'string', default: '40' },
    batch: { type: 'string', default: '1' },
  },
});
const runs = Number(values.runs);
const batchSize = Number(values.batch);
const dir = mkdtempSync(join(tmpdir(), 'bench-explain-'));
try {
  const weights = join(dir, 'weights.safetensors');
  await writeSyntheticWeights(weights);
  const stateDict = readSafetensors(readFileSync(weights));
  // The same model minus the output: what a user's --model without it is, and what resnet-serve wrote before.
  const full = buildResNetGraph(stateDict);
  const bare = { ...full, outputs: full.outputs.slice(0, 1), nodes: full.nodes.filter((n) => n.opType !== 'Identity') };
  const encode = (graph) => encodeModel(values.precision === 'int8' ? quantizeGraph(graph, dataFreeRanges(graph, stateDict)) : graph);
  const withFeatures = encode(full);
  const withoutFeatures = encode(bare);
  const paths = { with: join(dir, 'with.onnx'), without: join(dir, 'without.onnx') };
  writeFileSync(paths.with, withFeatures);
  writeFileSync(paths.without, withoutFeatures);
  const cache = join(dir, 'compiled');
  const engines = {
    with: await InferenceEngine.create(paths.with, { threads: 2, cacheDir: cache }),
    without: await InferenceEngine.create(paths.without, { threads: 2, cacheDir: cache }),
  };
  const lookup = await readClassifierHead(await fileSource(paths.with));
  if (!('head' in lookup)) throw new Error(lookup.unavailable);
  const head = lookup.head;
  const input = new Float32Array(batchSize * 3 * 224 * 224).map((_, i) => Math.sin(i * 0.001));

  const times = { plainWithout: [], plainWith: [], explained: [], maps: [] };
  const time = async (fn) => {
    const t = performance.now();
    await fn();
    return performance.now() - t;
  };
  for (let i = 0; i < 3; i++) {
    await engines.with.infer(input, batchSize, true);
    await engines.without.infer(input, batchSize);
  }
  const variants = [
    ['plainWithout', () => engines.without.infer(input, batchSize)],
    ['plainWith', () => engines.with.infer(input, batchSize)],
    [
      'explained',
      async () => {
        const { logits, features } = await engines.with.infer(input, batchSize, true);
        const t = performance.now();
        for (let n = 0; n < batchSize; n++) {
          const row = Array.from(logits.subarray(n * head.classes, (n + 1) * head.classes));
          const top3 = row
            .map((v, c) => [v, c])
            .sort((a, b) => b[0] - a[0])
            .slice(0, 3);
          for (const [, c] of top3) normaliseCam(rawCam(features, head, c, n * head.channels * CAM_CELLS));
        }
        times.maps.push(performance.now() - t);
      },
    ],
  ];
  for (let r = 0; r < runs; r++) {
    // A different variant goes first each round: on a shared machine the order alone moved medians by ~10%.
    for (let v = 0; v < variants.length; v++) {
      const [name, run] = variants[(r + v) % variants.length];
      times[name].push(await time(run));
    }
  }
  await engines.with.release();
  await engines.without.release();
  const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  const m = Object.fromEntries(Object.entries(times).map(([k, v]) => [k, median(v)]));
  const pct = (a, b) => `${(((a - b) / b) * 100).toFixed(1)}%`;
  console.log(`precision ${values.precision}, batch ${batchSize}, ${runs} interleaved runs, medians per run (ms):`);
  console.log(`  plain, model without features   ${m.plainWithout.toFixed(2)}`);
  console.log(`  plain, model with features      ${m.plainWith.toFixed(2)}  (${pct(m.plainWith, m.plainWithout)})`);
  console.log(
    `  explained (features + 3 maps)   ${m.explained.toFixed(2)}  (${pct(m.explained, m.plainWith)} vs plain; maps alone ${m.maps.toFixed(3)})`,
  );
} finally {
  rmSync(dir, { recursive: true, force: true });
}
