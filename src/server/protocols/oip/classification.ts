import type { LabelSet } from '../../../labels/label-set.js';

/**
 * The classification extension's answer for one row of an output (Triton's extension_classification.md):
 * the `count` highest values as "<value>:<index>:<label>", highest first. The value is printed as Triton's
 * server prints it, `std::to_string` of the output's float (six decimals, src/classification.cc); equal
 * values keep the lower index first, as in /predict.
 *
 * @param values - The output tensor's values.
 * @param offset - The row's first value in `values`.
 * @param classes - Values per row.
 * @example
 * classificationStrings(new Float32Array([1.1, 3.3, 0.5, 2.4]), 0, 4, 2, labels) // → ['3.300000:1:…', '2.400000:3:…']
 */
export function classificationStrings(values: Float32Array, offset: number, classes: number, count: number, labels: LabelSet): string[] {
  const indices = Array.from({ length: classes }, (_, i) => i);
  const value = (i: number): number => values[offset + i] ?? Number.NaN;
  indices.sort((a, b) => value(b) - value(a) || a - b);
  const named = labels.en.length === classes;
  return indices.slice(0, count).map((index) => {
    const label = named ? `:${labels.en[index]}` : '';
    return `${value(index).toFixed(6)}:${index}${label}`;
  });
}
