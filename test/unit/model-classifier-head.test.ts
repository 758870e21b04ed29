import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { buildResNetGraph, convertToOnnx } from '../../src/model/architectures/resnet.js';
import { readClassifierHead } from '../../src/model/classifier-head.js';
import { fileSource } from '../../src/model/onnx/file-source.js';
import { attr, type OnnxGraph } from '../../src/model/onnx/graph.js';
import { encodeModel } from '../../src/model/onnx/proto.js';
import { loadShapesStateDict } from '../helpers/int8-fixture.js';

const stateDict = loadShapesStateDict();

describe('readClassifierHead', () => {
  it('reads fc from a file without loading it whole, as from bytes', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'head-'));
    try {
      const path = join(dir, 'model.onnx');
      const bytes = convertToOnnx(stateDict);
      writeFileSync(path, bytes);
      const fromFile = await readClassifierHead(await fileSource(path));
      expect(fromFile).toEqual(await readClassifierHead(bytes));
      expect('head' in fromFile && fromFile.head.weight).toEqual(stateDict.get('fc.weight')?.data);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('transposes a Gemm weight stored as [channels, classes] (transB = 0)', async () => {
    const graph = buildResNetGraph(stateDict);
    const fc = graph.initializers.get('fc.weight');
    if (fc?.dtype !== 'float32') throw new Error('fixture');
    const [classes = 0, channels = 0] = fc.dims;
    const transposed = new Float32Array(fc.data.length);
    for (let c = 0; c < classes; c++) for (let k = 0; k < channels; k++) transposed[k * classes + c] = fc.data[c * channels + k] as number;
    const initializers = new Map(graph.initializers).set('fc.weight', { dtype: 'float32', dims: [channels, classes], data: transposed });
    const nodes = graph.nodes.map((n) => (n.opType === 'Gemm' ? { ...n, attributes: { transB: attr.int(0) } } : n));
    const lookup = await readClassifierHead(encodeModel({ ...graph, initializers, nodes }));
    expect('head' in lookup && lookup.head.weight).toEqual(fc.data);
  });

  it('says why when the logits are not a Gemm of a readable weight, or the bytes are not ONNX', async () => {
    const graph: OnnxGraph = {
      name: 'pool',
      inputs: [{ name: 'x', elemType: 'float32', shape: ['N', 3, 224, 224] }],
      outputs: [
        { name: 'y', elemType: 'float32', shape: ['N', 3] },
        { name: 'features', elemType: 'float32', shape: ['N', 3, 224, 224] },
      ],
      initializers: new Map(),
      nodes: [
        { opType: 'Identity', inputs: ['x'], outputs: ['features'], name: 'features', attributes: {} },
        { opType: 'GlobalAveragePool', inputs: ['x'], outputs: ['p'], name: 'pool', attributes: {} },
        { opType: 'Flatten', inputs: ['p'], outputs: ['y'], name: 'flatten', attributes: { axis: attr.int(1) } },
      ],
    };
    expect(await readClassifierHead(encodeModel(graph))).toEqual({
      unavailable: 'its y output is not made by a Gemm (fully connected) node',
    });
    const noFeatures = await readClassifierHead(encodeModel({ ...graph, outputs: graph.outputs.slice(0, 1) }));
    expect(noFeatures).toEqual({ unavailable: 'it has no output named features' });
    const garbage = await readClassifierHead(new Uint8Array([0xff, 0xff, 0xff]));
    expect('unavailable' in garbage && garbage.unavailable).toMatch(/could not be read/);
  });
});
