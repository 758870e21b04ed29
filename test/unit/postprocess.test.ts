import { describe, expect, it } from 'vitest';
import { DEFAULTS } from '../../src/cli/settings.js';
import { postprocess, softmax } from '../../src/labels/index.js';
import { thrownError } from '../helpers/errors.js';

const errorOf = thrownError;

/** 1000 zero logits with a few raised, like one row of ResNet-18 output. */
function imagenetRow(raised: Record<number, number>): Float32Array {
  const row = new Float32Array(1000);
  for (const [index, value] of Object.entries(raised)) row[Number(index)] = value;
  return row;
}

const sum = (values: Float64Array): number => values.reduce((a, b) => a + b, 0);

describe('softmax', () => {
  it('matches torch.softmax on a hand-checked example', () => {
    // torch.softmax(torch.tensor([1., 2., 3.], dtype=torch.float64), 0)
    const p = softmax(new Float32Array([1, 2, 3]));
    expect(p[0]).toBeCloseTo(0.09003057317038045, 15);
    expect(p[1]).toBeCloseTo(0.2447284710547976, 15);
    expect(p[2]).toBeCloseTo(0.6652409557748218, 15);
  });

  it('sums to 1 over 1000 classes', () => {
    const logits = Float32Array.from({ length: 1000 }, (_, i) => Math.sin(i) * 7);
    expect(sum(softmax(logits))).toBeCloseTo(1, 12);
  });

  it('stays finite with logits of ±1e4', () => {
    // torch.softmax(torch.tensor([1e4, -1e4, 9999.]).double(), 0) → [0.7310585786300049, 0, 0.26894142136999516]
    const p = softmax(new Float32Array([1e4, -1e4, 9999]));
    expect(p[0]).toBeCloseTo(0.7310585786300049, 15);
    expect(p[1]).toBe(0);
    expect(p[2]).toBeCloseTo(0.26894142136999516, 15);
    expect(sum(p)).toBeCloseTo(1, 15);
  });

  it('reads one row of a batch buffer', () => {
    const batch = new Float32Array([9, 9, 9, 1, 2, 3, 9, 9, 9]);
    expect(Array.from(softmax(batch, 3, 3))).toEqual(Array.from(softmax(new Float32Array([1, 2, 3]))));
  });
});

describe('postprocess', () => {
  it('returns the top 3 by default, most probable first, with both labels', () => {
    const predictions = postprocess(imagenetRow({ 281: 5, 285: 4, 282: 3 }));
    expect(predictions).toHaveLength(DEFAULTS.topK);
    expect(predictions.map((p) => p.index)).toEqual([281, 285, 282]);
    expect(predictions[0]).toEqual({ index: 281, label: 'tabby', label_zh: '虎斑猫', probability: expect.any(Number) });
    expect(predictions[1]).toMatchObject({ label: 'Egyptian cat', label_zh: '埃及猫' });
  });

  it('returns full-precision probabilities', () => {
    // torch.softmax of 1000 zeros with x[281] = 5, x[285] = 4 (float64). torch sums 1000 terms in another
    // order, so the last ~3 bits differ (measured 1.0e-15); 1e-13 still rules out any float32 rounding (~1e-8).
    const [first, second] = postprocess(imagenetRow({ 281: 5, 285: 4 }), { topK: 2 });
    expect(first?.probability).toBeCloseTo(0.12357349008593325, 13);
    expect(second?.probability).toBeCloseTo(0.0454601464764179, 13);
  });

  it('orders equal probabilities by lower index', () => {
    const predictions = postprocess(imagenetRow({ 900: 2, 7: 2, 300: 2, 5: 1, 950: 1 }), { topK: 5 });
    expect(predictions.map((p) => p.index)).toEqual([7, 300, 900, 5, 950]);
    const flat = postprocess(new Float32Array(10), { topK: 4 });
    expect(flat.map((p) => p.index)).toEqual([0, 1, 2, 3]);
  });

  it('agrees with a full sort for every k up to 20', () => {
    const logits = Float32Array.from({ length: 1000 }, (_, i) => Math.round(Math.sin(i * 12.9898) * 43758.5453) % 13);
    const probabilities = softmax(logits);
    const sorted = Array.from(probabilities.keys()).sort((a, b) => (probabilities[b] ?? 0) - (probabilities[a] ?? 0) || a - b);
    for (let k = 1; k <= DEFAULTS.maxTopK; k++) {
      expect(postprocess(logits, { topK: k }).map((p) => p.index)).toEqual(sorted.slice(0, k));
    }
  });

  it('reads each row of an [N, 1000] batch through offset and classes', () => {
    const batch = new Float32Array(3 * 1000);
    batch.set(imagenetRow({ 1: 6 }), 0);
    batch.set(imagenetRow({ 207: 6 }), 1000);
    batch.set(imagenetRow({ 999: 6 }), 2000);
    const top = (row: number) => postprocess(batch, { topK: 1, offset: row * 1000, classes: 1000 })[0];
    expect(top(0)).toMatchObject({ index: 1, label: 'goldfish', label_zh: '金鱼' });
    expect(top(1)).toMatchObject({ index: 207, label: 'golden retriever' });
    expect(top(2)).toMatchObject({ index: 999, label: 'toilet tissue', label_zh: '卫生纸' });
    expect(top(1)?.probability).toBe(postprocess(imagenetRow({ 207: 6 }), { topK: 1 })[0]?.probability);
  });

  it('names classes class_<index> when the model is not 1000-way', () => {
    const batch = new Float32Array([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 3, 0]);
    const predictions = postprocess(batch, { topK: 2, offset: 10, classes: 10 });
    expect(predictions[0]).toMatchObject({ index: 8, label: 'class_8', label_zh: 'class_8' });
    expect(predictions[1]).toMatchObject({ index: 0, label: 'class_0', label_zh: 'class_0' });
  });

  it('uses a caller label set that fits the model', () => {
    const labels = { en: ['cat', 'dog'], zh: ['猫', '狗'] };
    expect(postprocess(new Float32Array([0, 1]), { topK: 1, labels })[0]).toMatchObject({ index: 1, label: 'dog', label_zh: '狗' });
  });

  it('defaults topK to the number of classes when there are fewer than 3', () => {
    expect(postprocess(new Float32Array([0, 1]))).toHaveLength(2);
  });

  it('allows topK up to DEFAULTS.maxTopK', () => {
    expect(postprocess(imagenetRow({}), { topK: DEFAULTS.maxTopK })).toHaveLength(20);
  });

  it.each([0, 21, 2.5, -1, Number.NaN])('rejects topK %s with INVALID_ARGUMENT', (topK) => {
    const error = errorOf(() => postprocess(imagenetRow({}), { topK }));
    expect(error.code).toBe('INVALID_ARGUMENT');
    expect(error.details).toEqual({ parameter: 'topK' });
    expect(error.message).toContain('Expected an integer from 1 to 20 for topK');
  });

  it('rejects topK above the number of classes with INVALID_ARGUMENT', () => {
    const error = errorOf(() => postprocess(new Float32Array(10), { topK: 11 }));
    expect(error.code).toBe('INVALID_ARGUMENT');
    expect(error.message).toContain('an integer from 1 to 10 for topK');
  });

  it('rejects a row that runs past the buffer with INVALID_ARGUMENT', () => {
    expect(errorOf(() => postprocess(new Float32Array(2000), { offset: 1000, classes: 1001 })).details).toEqual({ parameter: 'classes' });
    expect(errorOf(() => postprocess(new Float32Array(2000), { offset: 2000 })).details).toEqual({ parameter: 'offset' });
    expect(errorOf(() => postprocess(new Float32Array(2000), { offset: 0.5 })).code).toBe('INVALID_ARGUMENT');
    expect(errorOf(() => postprocess(new Float32Array(0))).details).toEqual({ parameter: 'logits' });
  });

  it('rejects a label set whose languages differ in length with INVALID_ARGUMENT', () => {
    const error = errorOf(() => postprocess(new Float32Array(2), { labels: { en: ['a', 'b'], zh: ['甲'] } }));
    expect(error.code).toBe('INVALID_ARGUMENT');
    expect(error.details).toEqual({ parameter: 'labels' });
  });
});
