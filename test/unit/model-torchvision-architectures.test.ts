import { mkdirSync, readFileSync, rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { InferenceSession, Tensor } from 'onnxruntime-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { softmax } from '../../src/labels/postprocess.js';
import { architectureOf } from '../../src/model/architectures/index.js';
import type { RegNetName } from '../../src/model/architectures/regnet-layout.js';
import type { ResNetName } from '../../src/model/architectures/resnet-layout.js';
import { encodeModel } from '../../src/model/onnx/proto.js';
import { readStateDict } from '../../src/weights/read.js';
import { readSafetensors } from '../../src/weights/safetensors.js';
import type { StateDict } from '../../src/weights/types.js';
import { type ArchFixture, ArchFixtureStream, referenceTensor } from '../helpers/arch-fixtures.js';
import { thrownError } from '../helpers/errors.js';
import { IN_CI, REFERENCE_PYTHON } from '../helpers/reference-python.js';

/**
 * Every ResNet and RegNet builder against TorchVision's own module: make_arch_fixtures.py builds each with seeded
 * random weights (BatchNorm statistics and affine parameters too), saves its state_dict with torch.save, and writes
 * eval-mode logits for three fixed inputs and three photos through `weights.transforms()` on PIL. We read the .pth
 * with our safe reader, build the ONNX graph, run it in onnxruntime-node and compare.
 *
 * Tolerances: logits and features within 1e-4 × the row's scale (max(1, max |reference|)), probabilities within
 * 1e-4 absolute. Architectures of 30M parameters or more run at 64 px (the builders take any input size; the
 * arithmetic per layer is the same) so that the file stays within a few minutes on two cores; the others at 224,
 * where the photos run too.
 */
const FULL = 224;
const SMALL = 64;
const RESNETS: readonly (readonly [ResNetName, number])[] = [
  ['resnet18', FULL],
  ['resnet34', FULL],
  ['resnet50', FULL],
  ['resnet101', SMALL],
  ['resnet152', SMALL],
  ['resnext50_32x4d', FULL],
  ['resnext101_32x8d', SMALL],
  ['resnext101_64x4d', SMALL],
  ['wide_resnet50_2', SMALL],
  ['wide_resnet101_2', SMALL],
];
const REGNETS: readonly (readonly [RegNetName, number])[] = [
  ['regnet_y_400mf', FULL],
  ['regnet_y_800mf', FULL],
  ['regnet_y_1_6gf', FULL],
  ['regnet_y_3_2gf', FULL],
  ['regnet_y_8gf', SMALL],
  ['regnet_y_16gf', SMALL],
  ['regnet_y_32gf', SMALL],
  ['regnet_x_400mf', FULL],
  ['regnet_x_800mf', FULL],
  ['regnet_x_1_6gf', FULL],
  ['regnet_x_3_2gf', FULL],
  ['regnet_x_8gf', SMALL],
  ['regnet_x_16gf', SMALL],
  ['regnet_x_32gf', SMALL],
];
/**
 * 644M parameters: its fp32 graph (2.6 GB) is over protobuf's 2 GiB limit for one ONNX file and its .pth over the
 * reader's 2^28 elements, so only its state_dict layout is checked here (from the module on the meta device).
 */
const LAYOUT_ONLY: readonly RegNetName[] = ['regnet_y_128gf'];
const LOGIT_TOLERANCE = 1e-4;
const PROBABILITY_TOLERANCE = 1e-4;
/** State_dicts kept after their own test for the refusal tests below (all small). */
const KEPT = new Set(['resnet18', 'resnet50', 'resnext50_32x4d', 'regnet_y_400mf', 'regnet_x_400mf']);

const DIR = fileURLToPath(new URL('../.tmp/arch-fixtures/', import.meta.url));
const SPECS = [...RESNETS, ...REGNETS].map(([name, size]) => `${name}:${size}`).concat(LAYOUT_ONLY.map((name) => `${name}:meta`));

interface Agreement {
  maxAbs: number;
  /** max |Δ| / max(1, max |reference|) over rows. */
  maxRel: number;
}

/** Worst agreement of `actual` with `reference`, rows of `width`, and whether every element is within tolerance. */
function compare(actual: Float32Array | Float64Array, reference: Float32Array, width: number, relative: boolean, tolerance: number) {
  expect(actual.length).toBe(reference.length);
  const result: Agreement = { maxAbs: 0, maxRel: 0 };
  let worst = 0;
  for (let row = 0; row * width < reference.length; row++) {
    let scale = 1;
    for (let j = 0; j < width; j++) scale = Math.max(scale, Math.abs(reference[row * width + j] as number));
    for (let j = 0; j < width; j++) {
      const i = row * width + j;
      const delta = Math.abs((actual[i] as number) - (reference[i] as number));
      result.maxAbs = Math.max(result.maxAbs, delta);
      result.maxRel = Math.max(result.maxRel, delta / scale);
      worst = Math.max(worst, relative ? delta / scale : delta);
    }
  }
  return { ...result, within: worst <= tolerance };
}

function softmaxRows(logits: Float32Array, width: number): Float64Array {
  const out = new Float64Array(logits.length);
  for (let offset = 0; offset < logits.length; offset += width) out.set(softmax(logits, offset, width), offset);
  return out;
}

const isCounter = (key: string): boolean => key.endsWith('.num_batches_tracked');

describe.runIf(REFERENCE_PYTHON === undefined && IN_CI)('TorchVision architectures in CI', () => {
  it('have their reference Python', () => {
    expect.fail('.cache/venv/bin/python is missing: .ci/run must install torch, torchvision and safetensors into it');
  });
});

describe.skipIf(REFERENCE_PYTHON === undefined)(
  'ResNet and RegNet families against TorchVision (skipped without .cache/venv: torch, torchvision, safetensors)',
  () => {
    let stream: ArchFixtureStream;
    const kept = new Map<string, StateDict>();
    const rows: Record<string, unknown>[] = [];

    beforeAll(() => {
      rmSync(DIR, { recursive: true, force: true });
      mkdirSync(DIR, { recursive: true });
      stream = new ArchFixtureStream(DIR, SPECS, { photos: true });
    });

    afterAll(() => {
      stream?.close();
      rmSync(DIR, { recursive: true, force: true });
      console.table(rows);
    });

    function loadStateDict(fixture: ArchFixture): StateDict {
      const path = stream.path(fixture.stateDict ?? '');
      const stateDict = readStateDict(readFileSync(path));
      rmSync(path);
      stream.release(fixture.name);
      return stateDict;
    }

    describe.each([...RESNETS, ...REGNETS])('%s at %i px', (name, size) => {
      it('equals TorchVision: logits and features within 1e-4 of scale, probabilities within 1e-4, photos too', async () => {
        const fixture = await stream.get(name);
        let start = performance.now();
        const stateDict = loadStateDict(fixture);
        const readMs = performance.now() - start;
        const reference = readSafetensors(readFileSync(stream.path(fixture.reference ?? '')));

        start = performance.now();
        const built = architectureOf(name).build(stateDict, { inputSize: size });
        const model = encodeModel(built.graph);
        const buildMs = performance.now() - start;
        if (KEPT.has(name)) kept.set(name, stateDict);

        const features = referenceTensor(reference, 'features');
        expect(built.classes).toBe(1000);
        expect(built.featureChannels).toBe(features.dims[1]);
        expect(built.graph.inputs[0]?.shape).toEqual(['N', 3, size, size]);
        expect(built.graph.outputs.map((o) => o.shape)).toEqual([
          ['N', 1000],
          ['N', features.dims[1], features.dims[2], features.dims[3]],
        ]);

        start = performance.now();
        const session = await InferenceSession.create(model);
        const sessionMs = performance.now() - start;
        try {
          start = performance.now();
          const run = async (inputKey: string) => {
            const input = referenceTensor(reference, inputKey);
            return session.run({ input: new Tensor('float32', input.data, [...input.dims]) });
          };
          const outputs = await run('inputs');
          const runMs = performance.now() - start;
          const logits = outputs.logits?.data as Float32Array;
          const logitAgreement = compare(logits, referenceTensor(reference, 'logits').data, 1000, true, LOGIT_TOLERANCE);
          const featureWidth = (features.dims[1] as number) * (features.dims[2] as number) * (features.dims[3] as number);
          const featureAgreement = compare(outputs.features?.data as Float32Array, features.data, featureWidth, true, LOGIT_TOLERANCE);
          const probabilities = softmaxRows(logits, 1000);
          const probabilityAgreement = compare(
            probabilities,
            referenceTensor(reference, 'probabilities').data,
            1000,
            false,
            PROBABILITY_TOLERANCE,
          );

          let photoAgreement: Agreement & { within: boolean } = { maxAbs: 0, maxRel: 0, within: true };
          if ((fixture.photos ?? []).length > 0) {
            const photoLogits = (await run('photo_inputs')).logits?.data as Float32Array;
            const photoProbabilities = softmaxRows(photoLogits, 1000);
            const logitsOk = compare(photoLogits, referenceTensor(reference, 'photo_logits').data, 1000, true, LOGIT_TOLERANCE);
            photoAgreement = compare(
              photoProbabilities,
              referenceTensor(reference, 'photo_probabilities').data,
              1000,
              false,
              PROBABILITY_TOLERANCE,
            );
            photoAgreement.within &&= logitsOk.within;
          }
          rows.push({
            name,
            px: size,
            'params (M)': ((fixture.parameters ?? 0) / 1e6).toFixed(1),
            'logits max |Δ|': logitAgreement.maxAbs.toExponential(1),
            'logits max |Δ|/scale': logitAgreement.maxRel.toExponential(1),
            'features max |Δ|/scale': featureAgreement.maxRel.toExponential(1),
            'prob. max |Δ|': probabilityAgreement.maxAbs.toExponential(1),
            'photos prob. max |Δ|': photoAgreement.maxAbs === 0 ? '-' : photoAgreement.maxAbs.toExponential(1),
            'python s (cpu)': `${fixture.seconds} (${fixture.cpuSeconds})`,
            'read ms': Math.round(readMs),
            'build ms': Math.round(buildMs),
            'session ms': Math.round(sessionMs),
            'run ms': Math.round(runMs),
          });
          expect(logitAgreement.within, `logits: ${JSON.stringify(logitAgreement)}`).toBe(true);
          expect(featureAgreement.within, `features: ${JSON.stringify(featureAgreement)}`).toBe(true);
          expect(probabilityAgreement.within, `probabilities: ${JSON.stringify(probabilityAgreement)}`).toBe(true);
          expect(photoAgreement.within, `photos: ${JSON.stringify(photoAgreement)}`).toBe(true);
        } finally {
          await session.release();
        }
      }, 900_000);
    });

    // Shown in every run, so the gap is not forgotten.
    for (const name of LAYOUT_ONLY) {
      it.todo(
        `${name} against TorchVision end to end: its fp32 graph (2.6 GB) is over the 2 GiB of one ONNX protobuf (needs ONNX external data) and its .pth over the 2^28 elements the reader accepts`,
      );
    }

    describe.each([...RESNETS.map(([name]) => name), ...REGNETS.map(([name]) => name), ...LAYOUT_ONLY])('%s state_dict layout', (name) => {
      it("expects TorchVision's keys in TorchVision's order with TorchVision's shapes", async () => {
        const { keys } = await stream.get(name);
        const order = keys.map(([key]) => key).filter((key) => !isCounter(key));
        const empty = thrownError(() => architectureOf(name).build(new Map(), { inputSize: FULL }));
        expect(empty.code).toBe('STATE_DICT_MISMATCH');
        expect(empty.details).toMatchObject({ first: order[0], missing: order, unexpected: [], misshaped: [] });
        // TorchVision's keys and shapes, fc.bias made int64: refused for that tensor alone, so every other one fits.
        // The arrays are zero-filled and never read, so even regnet_y_128gf's 2.6 GB are never committed to memory.
        const shaped: StateDict = new Map(
          keys.map(([key, shape]) => {
            const elements = shape.reduce((a, b) => a * b, 1);
            return [
              key,
              isCounter(key) || key === 'fc.bias'
                ? { dtype: 'int64', shape, data: new BigInt64Array(elements) }
                : { dtype: 'float32', shape, data: new Float32Array(elements) },
            ];
          }),
        );
        const error = thrownError(() => architectureOf(name).build(shaped, { inputSize: FULL }));
        expect(error.details).toMatchObject({ first: 'fc.bias', missing: [], unexpected: [], misshaped: [{ key: 'fc.bias' }] });
        expect(error.details?.misshaped).toHaveLength(1);
      }, 900_000);
    });

    describe('a state_dict that does not fit is refused with STATE_DICT_MISMATCH naming the first key that differs', () => {
      const stateDictOf = (name: string): StateDict => {
        const stateDict = kept.get(name);
        if (stateDict === undefined) throw new Error(`${name}'s state_dict was not kept (did its test run?)`);
        return new Map(stateDict);
      };

      it.each([
        ['resnet50', 'resnet34', 'layer1.0.conv1.weight'],
        ['resnet18', 'resnet34', 'layer1.2.conv1.weight'],
        ['resnet50', 'wide_resnet50_2', 'layer1.0.conv1.weight'],
        ['resnext50_32x4d', 'resnet50', 'layer1.0.conv1.weight'],
        ['regnet_y_400mf', 'regnet_y_800mf', 'trunk_output.block1.block1-0.proj.0.weight'],
        ['regnet_x_400mf', 'regnet_y_400mf', 'trunk_output.block1.block1-0.proj.0.weight'],
      ])("TorchVision's %s given to %s: %s", (from, to, first) => {
        const error = thrownError(() => architectureOf(to).build(stateDictOf(from), { inputSize: FULL }));
        expect(error.code).toBe('STATE_DICT_MISMATCH');
        expect(error.details?.first).toBe(first);
        expect(error.message).toContain(`is not a torchvision ${to}`);
        expect(error.message).toContain(first);
      });

      it('a missing squeeze-excitation bias', () => {
        const stateDict = stateDictOf('regnet_y_400mf');
        stateDict.delete('trunk_output.block3.block3-2.f.se.fc1.bias');
        const error = thrownError(() => architectureOf('regnet_y_400mf').build(stateDict, { inputSize: FULL }));
        expect(error.code).toBe('STATE_DICT_MISMATCH');
        expect(error.details).toMatchObject({
          first: 'trunk_output.block3.block3-2.f.se.fc1.bias',
          missing: ['trunk_output.block3.block3-2.f.se.fc1.bias'],
          unexpected: [],
          misshaped: [],
        });
      });

      it('a grouped convolution of the wrong shape (its groups undone), and a missing BatchNorm statistic after it', () => {
        const stateDict = stateDictOf('resnext50_32x4d');
        const key = 'layer3.2.conv2.weight';
        const grouped = stateDict.get(key);
        expect(grouped?.shape).toEqual([512, 16, 3, 3]);
        stateDict.set(key, { dtype: 'float32', shape: [16, 512, 3, 3], data: grouped?.data ?? new Float32Array(0) });
        stateDict.delete('layer4.0.bn1.running_var');
        const error = thrownError(() => architectureOf('resnext50_32x4d').build(stateDict, { inputSize: FULL }));
        expect(error.code).toBe('STATE_DICT_MISMATCH');
        expect(error.details).toMatchObject({ first: key, missing: ['layer4.0.bn1.running_var'] });
        expect(error.message).toContain(`${key} (expected float [512, 16, 3, 3], received float32 [16, 512, 3, 3])`);
      });
    });
  },
);
