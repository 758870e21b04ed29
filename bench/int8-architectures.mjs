// int8 against fp32 for every family, measured in one run on this machine: weights size ratio (bytes of the
// ONNX files) and speed ratio (batch-1 session time, fp32 p50 / int8 p50, the two models interleaved round by
// round so that the noise of a shared machine falls on both alike), at 224 px. The state_dicts are
// test/fixtures/make_arch_fixtures.py's (`weights --out DIR ARCH...`: TorchVision's modules, seeded random
// weights, full size), calibrated on seeded noise images in the normalised-pixel range (the ranges change which
// values the kernels see, not how long they take).
//
// Run: npm run build && node bench/int8-architectures.mjs --fixtures DIR [--runs 20] [ARCH...]
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { withRunner } from '../dist/engine/offline-runner.js';
import { architectureOf } from '../dist/model/architectures/index.js';
import { encodeModel } from '../dist/model/onnx/proto.js';
import { quantizeToOnnx } from '../dist/model/quantize/quantize.js';
import { readStateDict } from '../dist/weights/read.js';
import { rng } from './lib/random.mjs';
import { summarize } from './lib/stats.mjs';

const { values, positionals } = parseArgs({
  options: { fixtures: { type: 'string' }, runs: { type: 'string', default: '20' }, threads: { type: 'string', default: '2' } },
  allowPositionals: true,
});
if (values.fixtures === undefined) throw new Error('usage: int8-architectures.mjs --fixtures DIR [--runs N] [ARCH...]');
const archs = positionals.length > 0 ? positionals : ['regnet_y_400mf', 'mobilenet_v3_small', 'efficientnet_b0', 'convnext_tiny'];
const SIZE = 224;
const runs = Number(values.runs);
const threads = Number(values.threads);
const random = rng(17);
const noise = () => Float32Array.from({ length: 3 * SIZE * SIZE }, () => (random() - 0.45) * 4);
const calibration = Array.from({ length: 8 }, noise);
const input = [noise()];

/** Per-run milliseconds of `rounds` batch-1 runs of each model, interleaved: [fp32 samples, int8 samples]. */
async function interleaved(models) {
  const samples = models.map(() => []);
  const runners = [];
  const done = [];
  // One runner (ORT session) per model, all open together; each round runs every model once.
  const opened = models.map(
    (model, m) =>
      new Promise((ready) => {
        done[m] = withRunner(model, [3, SIZE, SIZE], { threads, batchSize: 1 }, (runner) => {
          runners[m] = runner;
          ready();
          return new Promise((finish) => {
            runner.finish = finish;
          });
        });
      }),
  );
  await Promise.all(opened);
  for (let round = -3; round < runs; round++) {
    for (const [m, runner] of runners.entries()) {
      const start = performance.now();
      await runner.run(input, () => {});
      if (round >= 0) samples[m].push(performance.now() - start);
    }
  }
  for (const runner of runners) runner.finish();
  await Promise.all(done);
  return samples;
}

const cpu = /Model name:\s*(.*)/.exec(execFileSync('lscpu', { encoding: 'utf8' }))?.[1]?.trim();
const rows = [];
for (const arch of archs) {
  const stateDict = readStateDict(new Uint8Array(readFileSync(`${values.fixtures}/${arch}.pth`)));
  const fp32 = encodeModel(architectureOf(arch).build(stateDict, { inputSize: SIZE }).graph);
  const int8 = await quantizeToOnnx(stateDict, { architecture: arch, inputSize: SIZE, calibration, threads });
  const [fp32Ms, int8Ms] = (await interleaved([fp32, int8])).map(summarize);
  rows.push({
    arch,
    fp32_mb: fp32.length / 1e6,
    int8_mb: int8.length / 1e6,
    size_ratio: fp32.length / int8.length,
    fp32_p50_ms: fp32Ms.p50,
    int8_p50_ms: int8Ms.p50,
    speed_ratio: fp32Ms.p50 / int8Ms.p50,
  });
  console.error(JSON.stringify(rows.at(-1)));
}
process.stdout.write(`${JSON.stringify({ cpu, threads, size: SIZE, runs, rows }, null, 1)}\n`);
