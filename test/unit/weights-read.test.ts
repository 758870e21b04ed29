import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { readStateDict } from '../../src/weights/read.js';
import { failure } from '../helpers/errors.js';

const fixture = (name: string): Uint8Array =>
  new Uint8Array(readFileSync(fileURLToPath(new URL(`../fixtures/weights/${name}`, import.meta.url))));
const expected = JSON.parse(new TextDecoder().decode(fixture('small-expected.json'))) as Record<
  string,
  { shape: number[]; values: unknown[] }
>;

describe('readStateDict', () => {
  it.each(['small-zip.pth', 'small-legacy.pth', 'small.safetensors'])('recognises %s by its first bytes', (name) => {
    const stateDict = readStateDict(fixture(name));
    const weight = stateDict.get('conv1.weight')!;
    expect(weight.shape).toEqual(expected['conv1.weight']!.shape);
    expect(Array.from(weight.data as Float32Array)).toEqual(expected['conv1.weight']!.values);
  });

  it.each(['small-zip.pth', 'small-legacy.pth', 'small.safetensors'])('reads %s from a Node Buffer (whose slice() is a view)', (name) => {
    const buffer = readFileSync(fileURLToPath(new URL(`../fixtures/weights/${name}`, import.meta.url)));
    const stateDict = readStateDict(buffer);
    expect(Array.from(stateDict.get('bn1.running_var')!.data as Float32Array)).toEqual(expected['bn1.running_var']!.values);
    expect(stateDict.get('conv1.weight')!.data.buffer).not.toBe(buffer.buffer);
  });

  it('reads a .safetensors file whose 640-byte header length starts like a pickle PROTO 2', () => {
    const header = Buffer.from(JSON.stringify({ w: { dtype: 'F32', shape: [1], data_offsets: [0, 4] } }).padEnd(640, ' '));
    const length = Buffer.alloc(8);
    length.writeBigUInt64LE(640n);
    const value = Buffer.alloc(4);
    value.writeFloatLE(1.5);
    const bytes = new Uint8Array(Buffer.concat([length, header, value]));
    expect([bytes[0], bytes[1]]).toEqual([0x80, 0x02]);
    expect(readStateDict(bytes).get('w')).toEqual({ dtype: 'float32', shape: [1], data: new Float32Array([1.5]) });
  });

  it('refuses an ONNX model with CHECKPOINT_INVALID saying it is one', () => {
    // onnx.ModelProto: field 1 ir_version = 8, then field 2 producer_name "pytorch".
    const onnx = new Uint8Array([0x08, 0x08, 0x12, 0x07, ...new TextEncoder().encode('pytorch')]);
    expect(failure(() => readStateDict(onnx))).toMatch(/^CHECKPOINT_INVALID: .*ONNX/);
  });

  it('refuses unknown bytes with CHECKPOINT_INVALID', () => {
    expect(failure(() => readStateDict(new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8, 9, 10])))).toMatch(/^CHECKPOINT_INVALID: /);
    expect(failure(() => readStateDict(new Uint8Array(0)))).toMatch(/^CHECKPOINT_INVALID: /);
  });

  it('refuses a bare pickle that is not torch.save output with CHECKPOINT_INVALID', () => {
    expect(failure(() => readStateDict(new Uint8Array([0x80, 0x02, 0x4b, 0x07, 0x2e])))).toMatch(/^CHECKPOINT_INVALID: .*magic/);
  });
});
