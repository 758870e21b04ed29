import { InferenceSession, Tensor } from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { isResnetServeError } from '../../src/errors.js';
import { attr, type OnnxGraph, type OnnxNode, type OnnxTensor } from '../../src/model/onnx/graph.js';
import { encodeModel } from '../../src/model/onnx/proto.js';

type Shape = (number | string)[];

function graphOf(nodes: OnnxNode[], initializers: Record<string, OnnxTensor>, outputShape: Shape, inputShape: Shape = ['N', 4]): OnnxGraph {
  return {
    name: 'test',
    inputs: [{ name: 'x', elemType: 'float32', shape: inputShape }],
    outputs: [{ name: 'y', elemType: 'float32', shape: outputShape }],
    initializers: new Map(Object.entries(initializers)),
    nodes,
  };
}

function node(opType: string, inputs: string[], output: string, attributes: OnnxNode['attributes'] = {}): OnnxNode {
  return { opType, inputs, outputs: [output], name: `${opType}_${output}`, attributes };
}

async function run(graph: OnnxGraph, x: Float32Array, dims: number[]): Promise<{ data: number[]; dims: readonly number[] }> {
  const session = await InferenceSession.create(encodeModel(graph));
  const { y } = await session.run({ x: new Tensor('float32', x, dims) });
  await session.release();
  if (y === undefined) throw new Error('no output y');
  return { data: [...(y.data as Float32Array)], dims: y.dims };
}

/** Top-level fields of a protobuf message: enough to read ModelProto's header back. */
function topLevelFields(bytes: Uint8Array): Map<number, (number | Uint8Array)[]> {
  const fields = new Map<number, (number | Uint8Array)[]>();
  let pos = 0;
  const varint = (): number => {
    let value = 0;
    for (let shift = 1; ; shift *= 128) {
      const byte = bytes[pos++] as number;
      value += (byte & 0x7f) * shift;
      if (byte < 0x80) return value;
    }
  };
  while (pos < bytes.length) {
    const tag = varint();
    let value: number | Uint8Array;
    if (tag % 8 === 0) {
      value = varint();
    } else {
      const length = varint();
      value = bytes.subarray(pos, pos + length);
      pos += length;
    }
    fields.set(Math.floor(tag / 8), [...(fields.get(Math.floor(tag / 8)) ?? []), value]);
  }
  return fields;
}

describe('encodeModel', () => {
  it('writes ir_version 8, producer resnet-serve and the default-domain opset 17', () => {
    const fields = topLevelFields(encodeModel(graphOf([node('Relu', ['x'], 'y')], {}, ['N', 4])));
    expect(fields.get(1)).toEqual([8]);
    expect(new TextDecoder().decode(fields.get(2)?.[0] as Uint8Array)).toBe('resnet-serve');
    expect(topLevelFields(fields.get(8)?.[0] as Uint8Array).get(2)).toEqual([17]);
  });

  it('declares a symbolic batch dimension that ORT accepts at any size', async () => {
    const graph = graphOf([node('Relu', ['x'], 'y')], {}, ['N', 4]);
    expect((await run(graph, Float32Array.of(-1, 2, -3, 4), [1, 4])).data).toEqual([0, 2, 0, 4]);
    expect((await run(graph, new Float32Array(12).fill(-1), [3, 4])).dims).toEqual([3, 4]);
  });

  it('writes float32 initializers and FLOAT attributes (Gemm alpha)', async () => {
    const graph = graphOf(
      [node('Gemm', ['x', 'w'], 'y', { alpha: attr.float(0.5), transB: attr.int(1) })],
      {
        w: { dtype: 'float32', dims: [1, 4], data: Float32Array.of(1, 2, 3, 4) },
      },
      ['N', 1],
    );
    expect((await run(graph, Float32Array.of(1, 1, 1, 1), [1, 4])).data).toEqual([5]);
  });

  it('writes int64 initializers with negative values and negative INT attributes', async () => {
    const graph = graphOf(
      [node('Reshape', ['x', 'shape'], 'r'), node('Flatten', ['r'], 'y', { axis: attr.int(-1) })],
      { shape: { dtype: 'int64', dims: [3], data: BigInt64Array.of(-1n, 2n, 2n) } },
      ['M', 2],
    );
    expect((await run(graph, Float32Array.of(1, 2, 3, 4), [1, 4])).dims).toEqual([2, 2]);
  });

  it('writes int8 and uint8 initializers (DequantizeLinear)', async () => {
    const graph = graphOf(
      [
        node('DequantizeLinear', ['q8', 'scale', 'zero8'], 'a'),
        node('DequantizeLinear', ['qu8', 'scale', 'zeroU8'], 'b'),
        node('Add', ['a', 'b'], 'c'),
        node('Add', ['x', 'c'], 'y'),
      ],
      {
        q8: { dtype: 'int8', dims: [4], data: Int8Array.of(-128, -1, 0, 127) },
        zero8: { dtype: 'int8', dims: [], data: Int8Array.of(-1) },
        qu8: { dtype: 'uint8', dims: [4], data: Uint8Array.of(0, 1, 128, 255) },
        zeroU8: { dtype: 'uint8', dims: [], data: Uint8Array.of(128) },
        scale: { dtype: 'float32', dims: [], data: Float32Array.of(0.5) },
      },
      ['N', 4],
    );
    // int8: (q + 1) / 2 → [-63.5, 0, 0.5, 64]; uint8: (q − 128) / 2 → [-64, -63.5, 0, 63.5].
    expect((await run(graph, new Float32Array(4), [1, 4])).data).toEqual([-127.5, -63.5, 0.5, 127.5]);
  });

  it('writes int32 initializers and STRING attributes (Gather, Pad reflect)', async () => {
    const graph = graphOf(
      [node('Gather', ['x', 'indices'], 'g', { axis: attr.int(1) }), node('Pad', ['g', 'pads'], 'y', { mode: attr.string('reflect') })],
      {
        indices: { dtype: 'int32', dims: [3], data: Int32Array.of(3, 0, 1) },
        pads: { dtype: 'int64', dims: [4], data: BigInt64Array.of(0n, 1n, 0n, 1n) },
      },
      ['N', 5],
    );
    expect((await run(graph, Float32Array.of(10, 20, 30, 40), [1, 4])).data).toEqual([10, 40, 10, 20, 10]);
  });

  it('writes INTS attributes (MaxPool kernel_shape, strides, pads)', async () => {
    const graph = graphOf(
      [node('MaxPool', ['x'], 'y', { kernel_shape: attr.ints([1, 3]), strides: attr.ints([1, 2]), pads: attr.ints([0, 1, 0, 1]) })],
      {},
      ['N', 1, 1, 3],
      ['N', 1, 1, 5],
    );
    expect((await run(graph, Float32Array.of(1, 5, 2, 4, 3), [1, 1, 1, 5])).data).toEqual([5, 5, 4]);
  });

  it('fails with INTERNAL when an initializer has fewer elements than its dims', () => {
    const graph = graphOf([node('Add', ['x', 'w'], 'y')], { w: { dtype: 'float32', dims: [2, 4], data: new Float32Array(4) } }, ['N', 4]);
    try {
      encodeModel(graph);
      expect.unreachable();
    } catch (error) {
      expect(isResnetServeError(error) && error.code).toBe('INTERNAL');
    }
  });
});
