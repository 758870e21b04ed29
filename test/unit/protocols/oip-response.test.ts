/**
 * Writing Open Inference Protocol answers: Triton's classification extension example
 * (extension_classification.md), the binary tensor data extension's response example
 * (extension_binary_data.md), and the outputs computed from logits.
 */
import { describe, expect, test } from 'vitest';
import { IMAGENET_LABELS } from '../../../src/labels/label-set.js';
import { postprocess } from '../../../src/labels/postprocess.js';
import { classificationStrings } from '../../../src/server/protocols/oip/classification.js';
import { inferOutputs } from '../../../src/server/protocols/oip/infer-response.js';
import { encodeRestAnswer } from '../../../src/server/protocols/oip/rest/response.js';
import { deserializeBytesTensor, splitTritonResponse } from '../../helpers/tritonclient.js';

describe('classification extension', () => {
  // extension_classification.md: output0 [1.1, 3.3, 0.5, 2.4], classification 2 → ["3.3:1", "2.4:3"], or with
  // labels ["3.3:1:index_1_label", "2.4:3:index_3_label"]. Triton's server prints the value with
  // std::to_string (src/classification.cc), which is what a Triton client actually receives.
  const output0 = new Float32Array([1.1, 3.3, 0.5, 2.4]);
  const labels = { en: ['index_0_label', 'index_1_label', 'index_2_label', 'index_3_label'], zh: ['', '', '', ''] };

  test('the spec’s example, with labels', () => {
    expect(classificationStrings(output0, 0, 4, 2, labels)).toEqual(['3.300000:1:index_1_label', '2.400000:3:index_3_label']);
  });

  test('the spec’s example, for a model without labels', () => {
    expect(classificationStrings(output0, 0, 4, 2, IMAGENET_LABELS)).toEqual(['3.300000:1', '2.400000:3']);
  });

  test('values parse back to the spec’s numbers and indices', () => {
    const parsed = classificationStrings(output0, 0, 4, 4, labels).map((s) => s.split(':'));
    expect(parsed.map(([value, index]) => [Number(value), Number(index)])).toEqual([
      [3.3, 1],
      [2.4, 3],
      [1.1, 0],
      [0.5, 2],
    ]);
  });

  test('equal values keep the lower index first, as /predict orders them', () => {
    expect(classificationStrings(new Float32Array([2, 5, 5, 1]), 0, 4, 3, labels).map((s) => s.split(':')[1])).toEqual(['1', '2', '0']);
  });
});

describe('the binary data extension’s response example', () => {
  test('output0 FP32 [3, 2] as binary: binary_data_size 24 in the JSON, then the 24 bytes', () => {
    const values = new Float32Array([1.0, 1.1, 2.0, 2.1, 3.0, 3.1]);
    const encoded = encodeRestAnswer({
      model_name: 'mymodel',
      model_version: '1',
      id: undefined,
      outputs: [{ name: 'logits', shape: [3, 2], binary: true, datatype: 'FP32', values }],
    });
    expect(encoded.contentType).toBe('application/octet-stream');
    expect(encoded.body.length).toBe((encoded.headerLength ?? 0) + 24);
    const { json, binary } = splitTritonResponse(encoded.body, String(encoded.headerLength));
    expect(json.outputs).toEqual([{ name: 'logits', datatype: 'FP32', shape: [3, 2], parameters: { binary_data_size: 24 } }]);
    expect(new Float32Array(new Uint8Array(binary.get('logits') ?? []).buffer)).toEqual(values);
  });

  test('all-JSON answers carry no Inference-Header-Content-Length, and echo the id', () => {
    const encoded = encodeRestAnswer({
      model_name: 'resnet18',
      model_version: '1',
      id: '42',
      outputs: [{ name: 'logits', shape: [3, 2], binary: false, datatype: 'FP32', values: new Float32Array([1, 1.5, 2, 2.5, 3, 3.5]) }],
    });
    expect(encoded.headerLength).toBeUndefined();
    expect(JSON.parse(encoded.body.toString())).toEqual({
      model_name: 'resnet18',
      model_version: '1',
      id: '42',
      outputs: [{ name: 'logits', datatype: 'FP32', shape: [3, 2], data: [1, 1.5, 2, 2.5, 3, 3.5] }],
    });
  });

  test('BYTES outputs in binary are length-prefixed strings', () => {
    const encoded = encodeRestAnswer({
      model_name: 'm',
      model_version: '1',
      id: undefined,
      outputs: [
        { name: 'probabilities', shape: [1, 2], binary: true, datatype: 'BYTES', values: ['0.500000:1:goldfish', '0.250000:0:tench'] },
      ],
    });
    const { binary } = splitTritonResponse(encoded.body, String(encoded.headerLength));
    expect(deserializeBytesTensor(binary.get('probabilities') ?? Buffer.alloc(0))).toEqual(['0.500000:1:goldfish', '0.250000:0:tench']);
  });
});

describe('inferOutputs', () => {
  const classes = 1000;
  const logits = Float32Array.from({ length: 2 * classes }, (_, i) => Math.sin(i * 12.9898) * 4);

  test('probabilities are /predict’s softmax, row by row, to float32 precision', () => {
    const [probabilities] = inferOutputs(
      [{ name: 'probabilities', binary: false, classification: undefined }],
      { logits, count: 2, classes },
      IMAGENET_LABELS,
      7,
    );
    expect(probabilities?.shape).toEqual([2, classes]);
    for (const row of [0, 1]) {
      for (const p of postprocess(logits, { offset: row * classes, classes, topK: 5 })) {
        expect(probabilities?.datatype === 'FP32' && probabilities.values[row * classes + p.index]).toBeCloseTo(p.probability, 7);
      }
    }
  });

  test('logits are passed through untouched', () => {
    const [out] = inferOutputs(
      [{ name: 'logits', binary: true, classification: undefined }],
      { logits, count: 2, classes },
      IMAGENET_LABELS,
      7,
    );
    expect(out?.values).toBe(logits);
  });

  test('classification K gives BYTES [N, K] in /predict’s order, with torchvision’s names', () => {
    const [out] = inferOutputs(
      [{ name: 'probabilities', binary: false, classification: 3 }],
      { logits, count: 2, classes },
      IMAGENET_LABELS,
      7,
    );
    expect(out?.datatype).toBe('BYTES');
    expect(out?.shape).toEqual([2, 3]);
    const expected = [0, 1].flatMap((row) =>
      postprocess(logits, { offset: row * classes, classes, topK: 3 }).map(
        (p) => `${Math.fround(p.probability).toFixed(6)}:${p.index}:${p.label}`,
      ),
    );
    expect(out?.values).toEqual(expected);
  });
});
