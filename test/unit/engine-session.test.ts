import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { InferenceEngine } from '../../src/engine/inference-engine.js';
import { INPUT_ELEMENTS } from '../../src/image/recipe.js';
import { buildResNetGraph, convertToOnnx } from '../../src/model/architectures/resnet.js';
import { attr, type OnnxGraph } from '../../src/model/onnx/graph.js';
import { encodeModel } from '../../src/model/onnx/proto.js';
import { readModelContract } from '../../src/model/read-contract.js';
import { readSafetensors } from '../../src/weights/safetensors.js';

const tinyModel = convertToOnnx(readSafetensors(readFileSync(new URL('../fixtures/model/tiny-resnet18.safetensors', import.meta.url))));

/** A model that averages each channel: valid ONNX, but not an image classifier of our contract. */
function poolingModel(size: number): Uint8Array {
  const graph: OnnxGraph = {
    name: 'pool',
    inputs: [{ name: 'x', elemType: 'float32', shape: ['N', 3, size, size] }],
    outputs: [{ name: 'y', elemType: 'float32', shape: ['N', 3] }],
    initializers: new Map(),
    nodes: [
      { opType: 'GlobalAveragePool', inputs: ['x'], outputs: ['p'], name: 'pool', attributes: {} },
      { opType: 'Flatten', inputs: ['p'], outputs: ['y'], name: 'flatten', attributes: { axis: attr.int(1) } },
    ],
  };
  return encodeModel(graph);
}

/** The engine as the classifier creates it: with the contract read from the same bytes. */
async function createEngine(model: Uint8Array): Promise<InferenceEngine> {
  return InferenceEngine.create(model, { threads: 1, contract: await readModelContract(model) });
}

describe('InferenceEngine', () => {
  it('loads a model, reads its class count and runs a batch', async () => {
    const engine = await createEngine(tinyModel);
    try {
      expect(engine.contract.classes).toBe(10);
      const batch = new Float32Array(3 * INPUT_ELEMENTS).map((_, i) => Math.sin(i));
      const { logits } = await engine.infer(batch, 3);
      expect(logits).toHaveLength(30);
      // Row 1 of a batch of 3 equals the same image run alone.
      const { logits: alone } = await engine.infer(batch.slice(INPUT_ELEMENTS, 2 * INPUT_ELEMENTS), 1);
      for (let c = 0; c < 10; c++) expect(logits[10 + c]).toBeCloseTo(alone[c] ?? NaN, 4);
    } finally {
      await engine.release();
    }
  });

  it('fetches the features output only when asked', async () => {
    const engine = await createEngine(tinyModel);
    try {
      // The tiny fixture is 4 wide: 32 channels at layer4.
      expect(engine.contract.features).toEqual({ channels: 32, grid: 7 });
      const batch = new Float32Array(2 * INPUT_ELEMENTS).map((_, i) => Math.cos(i));
      expect((await engine.infer(batch, 2)).features).toBeUndefined();
      const both = await engine.infer(batch, 2, true);
      expect(both.features).toHaveLength(2 * 32 * 49);
      expect(both.logits).toEqual((await engine.infer(batch, 2)).logits);
    } finally {
      await engine.release();
    }
  });

  it('accepts a model without features, which then cannot be asked for them', async () => {
    const graph = buildResNetGraph(readSafetensors(readFileSync(new URL('../fixtures/model/tiny-resnet18.safetensors', import.meta.url))));
    const engine = await createEngine(encodeModel({ ...graph, outputs: graph.outputs.slice(0, 1) }));
    try {
      expect(engine.contract.features).toBeUndefined();
      await expect(engine.infer(new Float32Array(INPUT_ELEMENTS), 1, true)).rejects.toMatchObject({ code: 'INTERNAL' });
    } finally {
      await engine.release();
    }
  });

  it('rejects bytes that are not ONNX with MODEL_INVALID', async () => {
    const contract = await readModelContract(tinyModel);
    await expect(InferenceEngine.create(new TextEncoder().encode('not a model'), { threads: 1, contract })).rejects.toMatchObject({
      code: 'MODEL_INVALID',
    });
  });

  it("rejects a session whose input is not the contract's [N,3,224,224] with MODEL_INVALID naming the shape", async () => {
    // A contract that names the pooling model's input and output, as a stale or edited file's metadata could.
    const contract = { ...(await readModelContract(tinyModel)), input: 'x', output: 'y', classes: 3 };
    await expect(InferenceEngine.create(poolingModel(32), { threads: 1, contract })).rejects.toMatchObject({
      code: 'MODEL_INVALID',
      message: expect.stringContaining('[N,3,32,32]'),
    });
  });
});
