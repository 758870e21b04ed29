import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';

/**
 * Lists `domain:op_type` of every node of a serialised ONNX model, reading just enough protobuf
 * (onnx/onnx.proto: ModelProto.graph = 7, GraphProto.node = 1, NodeProto.op_type = 4, NodeProto.domain = 7)
 * to check which kernels ONNX Runtime chose in a model saved with `optimizedModelFilePath`.
 */
export function nodeOpTypes(model: Uint8Array): string[] {
  const graph = fields(model).find((f) => f.no === 7)?.bytes;
  if (graph === undefined) return [];
  return fields(graph)
    .filter((f) => f.no === 1 && f.bytes !== undefined)
    .map((f) => {
      const node = fields(f.bytes as Uint8Array);
      const text = (no: number): string => new TextDecoder().decode(node.find((n) => n.no === no)?.bytes ?? new Uint8Array());
      const domain = text(7);
      return domain === '' ? text(4) : `${domain}:${text(4)}`;
    });
}

function fields(buffer: Uint8Array): { no: number; bytes?: Uint8Array }[] {
  const out: { no: number; bytes?: Uint8Array }[] = [];
  let pos = 0;
  const varint = (): number => {
    let result = 0;
    let shift = 1;
    for (;;) {
      const byte = buffer[pos++] as number;
      result += (byte & 0x7f) * shift;
      if (byte < 0x80) return result;
      shift *= 128;
    }
  };
  while (pos < buffer.length) {
    const key = varint();
    const no = Math.floor(key / 8);
    switch (key & 7) {
      case 0:
        varint();
        out.push({ no });
        break;
      case 1:
        pos += 8;
        out.push({ no });
        break;
      case 2: {
        const length = varint();
        out.push({ no, bytes: buffer.subarray(pos, pos + length) });
        pos += length;
        break;
      }
      case 5:
        pos += 4;
        out.push({ no });
        break;
      default:
        throw new Error(`unsupported protobuf wire type ${key & 7}`);
    }
  }
  return out;
}

/** How many times each op type occurs: `{ Conv: 62, HardSwish: 19, … }`. */
export function countOpTypes(opTypes: readonly string[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const op of opTypes) counts[op] = (counts[op] ?? 0) + 1;
  return counts;
}

/** The `domain:op_type` of every node ONNX Runtime runs for `model` after all its graph optimisations (fusions). */
export async function optimisedOpTypes(model: Uint8Array, threads: number): Promise<string[]> {
  const dir = mkdtempSync(join(tmpdir(), 'optimised-'));
  try {
    const optimised = join(dir, 'optimised.onnx');
    const session = await ort.InferenceSession.create(model, {
      graphOptimizationLevel: 'all',
      intraOpNumThreads: threads,
      optimizedModelFilePath: optimised,
    });
    await session.release();
    return nodeOpTypes(new Uint8Array(readFileSync(optimised)));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
