/**
 * The library's promise (src/errors.ts): every failure that crosses its boundary carries a registry code, a
 * wrong argument included — a JavaScript caller passing the wrong type gets INVALID_ARGUMENT naming the
 * parameter, not a TypeError from deep inside.
 */
import { describe, expect, test } from 'vitest';
import {
  convertToOnnx,
  normaliseCam,
  preprocess,
  preprocessInto,
  rawCam,
  readPth,
  readSafetensors,
  readStateDict,
  resolveModel,
  resolveWeights,
  softmax,
} from '../../src/index.js';
import { rejectedError, thrownError } from '../helpers/errors.js';

const head = { classes: 2, channels: 1, grid: 7, weight: new Float32Array(2) };
const notBytes = 'cat.jpg' as unknown as Uint8Array;

describe('a bad argument to the library is INVALID_ARGUMENT naming it', () => {
  test.each([
    ['rawCam, a class outside the head', () => rawCam(new Float32Array(49), head, 2), 'classIndex'],
    ['rawCam, a fractional offset', () => rawCam(new Float32Array(98), head, 0, 0.5), 'offset'],
    ['rawCam, too few features', () => rawCam(new Float32Array(48), head, 0), 'features'],
    ['normaliseCam, not a Float32Array', () => normaliseCam([1, 2] as unknown as Float32Array), 'raw'],
    ['softmax, an offset past the end', () => softmax(new Float32Array(3), 5), 'offset'],
    ['softmax, a negative length', () => softmax(new Float32Array(3), 0, -1), 'length'],
    ['readPth, a file name instead of bytes', () => readPth(notBytes), 'bytes'],
    ['readStateDict, null', () => readStateDict(null as unknown as Uint8Array), 'bytes'],
    ['readSafetensors, a string', () => readSafetensors(notBytes), 'bytes'],
    ['convertToOnnx, not a Map', () => convertToOnnx({} as unknown as Map<string, never>), 'stateDict'],
  ] as const)('%s', (_, run, parameter) => {
    expect(thrownError(run)).toMatchObject({ code: 'INVALID_ARGUMENT', details: { parameter } });
  });

  test.each([
    ['preprocess, a file name instead of bytes', () => preprocess(notBytes), 'bytes'],
    ['preprocessInto, no output tensor', () => preprocessInto(new Uint8Array(8), undefined as unknown as Float32Array, 0), 'out'],
    ['resolveModel, null', () => resolveModel(null as never), 'source'],
    ['resolveWeights, null', () => resolveWeights(null as never), 'options'],
  ] as const)('%s', async (_, run, parameter) => {
    expect(await rejectedError(run)).toMatchObject({ code: 'INVALID_ARGUMENT', details: { parameter } });
  });
});
