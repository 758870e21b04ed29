/**
 * The structure bounds an infer request's JSON is held to before JSON.parse (json-bounds.ts), and the shape
 * check every input goes through first (tensor-shape.ts). Valid bodies are the spec's example
 * (kserve/open-inference-protocol inference_rest.md) and the largest request this model runs.
 */
import { describe, expect, test } from 'vitest';
import { INPUT_ELEMENTS } from '../../../src/image/recipe.js';
import { inferJsonBounds, JsonBoundsScanner } from '../../../src/server/protocols/oip/rest/json-bounds.js';
import { checkShape, MAX_DIMS } from '../../../src/server/protocols/oip/tensor-shape.js';
import { thrownError } from '../../helpers/errors.js';
import { SPEC_JSON_REQUEST } from '../../helpers/oip-spec-examples.js';

const BOUNDS = inferJsonBounds(8, INPUT_ELEMENTS, 3 * 224);

function scan(json: string | Buffer, chunkBytes = Number.POSITIVE_INFINITY): void {
  const bytes = Buffer.from(json);
  const scanner = new JsonBoundsScanner(BOUNDS);
  for (let at = 0; at < bytes.length; at += chunkBytes) scanner.feed(bytes.subarray(at, Math.min(bytes.length, at + chunkBytes)));
}

function refusal(json: string | Buffer, chunkBytes?: number): { code?: string; message: string; details?: Record<string, unknown> } {
  return thrownError(() => scan(json, chunkBytes)) as never;
}

/** The largest request the model runs: 8 preprocessed tensors as nested JSON ([8][3][224][224]). */
function largestNestedRequest(): string {
  const row = `[${Array.from({ length: 224 }, () => '0.5').join(',')}]`;
  const plane = `[${Array.from({ length: 224 }, () => row).join(',')}]`;
  const image = `[${plane},${plane},${plane}]`;
  const data = `[${Array.from({ length: 8 }, () => image).join(',')}]`;
  return `{"id":"x","inputs":[{"name":"input","datatype":"FP32","shape":[8,3,224,224],"parameters":{"a":1},"data":${data}}],"outputs":[{"name":"logits","parameters":{"classification":3}}]}`;
}

describe('the JSON of an infer request, before it is parsed', () => {
  test("passes for the spec's example and for the largest request the model runs, nested or flat, in any chunking", () => {
    expect(() => scan(SPEC_JSON_REQUEST)).not.toThrow();
    for (let chunk = 1; chunk < 12; chunk++) expect(() => scan(SPEC_JSON_REQUEST, chunk)).not.toThrow();
    expect(() => scan(largestNestedRequest(), 65_536)).not.toThrow();
    const flat = `{"inputs":[{"name":"input","datatype":"FP32","shape":[8,3,224,224],"data":[${new Array(8 * INPUT_ELEMENTS).fill(0).join(',')}]}]}`;
    expect(() => scan(flat, 65_536)).not.toThrow();
  });

  test('a shape of more than 8 dimensions is refused as it arrives, however it is split', () => {
    const shape = `{"inputs":[{"name":"image","shape":[${new Array(MAX_DIMS + 1).fill(1).join(',')}]`;
    for (const chunk of [1, 7, 1000]) {
      expect(refusal(shape, chunk)).toMatchObject({ code: 'INVALID_ARGUMENT', details: { parameter: 'body', limit: MAX_DIMS } });
    }
    expect(refusal(shape).message).toContain('more than 8 dimensions');
    // Only an array under the key `shape` is one: the word in a value, or an escaped quote, changes nothing.
    expect(() => scan(`{"name":"shape","x":[1,2,3,4,5,6,7,8,9],"y":"a\\"shape\\":[1,2,3,4,5,6,7,8,9]"}`)).not.toThrow();
    expect(() => scan(`{"shapes":[1,2,3,4,5,6,7,8,9],"shap":[1,2,3,4,5,6,7,8,9]}`)).not.toThrow();
  });

  test('deep nesting, too many containers, an object of too many members and too many values are refused', () => {
    expect(refusal('['.repeat(11)).message).toContain('deeper than 10 levels');
    const empties = `[${new Array(BOUNDS.maxContainers).fill('[]').join(',')}]`;
    expect(refusal(empties).message).toContain(`more than ${BOUNDS.maxContainers} arrays and objects`);
    const members = `{${Array.from({ length: 65 }, (_, i) => `"k${i}":0`).join(',')}}`;
    expect(refusal(members).message).toContain('an object of more than 64 members');
    const values = `{"inputs":[{"data":[${new Array(BOUNDS.maxArrayItems + 1).fill(0).join(',')}]}]}`;
    expect(refusal(values, 65_536)).toMatchObject({ code: 'INVALID_ARGUMENT', details: { limit: BOUNDS.maxArrayItems } });
  });
});

describe('the shape of an input, before anything is allocated from it', () => {
  test('returns the element count of a valid shape', () => {
    expect(checkShape('input', [2, 3, 224, 224], 8 * INPUT_ELEMENTS)).toEqual({ shape: [2, 3, 224, 224], elements: 2 * INPUT_ELEMENTS });
    expect(checkShape('image', [], 8).elements).toBe(1);
  });

  test('refuses more than 8 dimensions, a dimension that is not a non-negative integer, and too many elements', () => {
    expect(thrownError(() => checkShape('image', new Array(9).fill(1), 8))).toMatchObject({
      code: 'INVALID_ARGUMENT',
      details: { input: 'image', limit: 8, received: 9 },
    });
    for (const dim of [-1, 1.5, '2', 2 ** 53]) {
      expect(thrownError(() => checkShape('image', [1, dim], 2 ** 60))).toMatchObject({ code: 'INVALID_ARGUMENT', details: { index: 1 } });
    }
    // 2^52 · 2^52 would overflow to a number that compares wrongly; checked one dimension at a time it does not.
    expect(thrownError(() => checkShape('input', [2 ** 52, 2 ** 52], 1000))).toMatchObject({ details: { limit: 1000 } });
    expect(thrownError(() => checkShape('input', 'not an array', 1000))).toMatchObject({ code: 'INVALID_ARGUMENT' });
  });
});
