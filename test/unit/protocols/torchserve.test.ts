import { createHash } from 'node:crypto';
import { describe, expect, test } from 'vitest';
import { IMAGENET_LABELS_EN } from '../../../src/labels/imagenet-en.js';
import { torchserveAnswer } from '../../../src/server/protocols/torchserve/answer.js';
import { TORCHSERVE_LABELS } from '../../../src/server/protocols/torchserve/labels.js';

describe('TorchServe’s label spelling', () => {
  test('matches examples/image_classifier/index_to_name.json of pytorch/serve, name for name', () => {
    // SHA-256 of the file's 1000 names (the last item of each entry, as load_label_mapping reads them) joined
    // by '\n', computed from pytorch/serve at commit 62c4d6a1fdc1d071dbcf758ebd756029af20bd5e (file SHA-256
    // a1e7a966a1f601d39e4b43e119b3e7dd4a2ad3ea08cf69847cbaf021013767bc).
    expect(TORCHSERVE_LABELS).toHaveLength(1000);
    expect(createHash('sha256').update(TORCHSERVE_LABELS.join('\n')).digest('hex')).toBe(
      '00431496b02b35ec4cfbd126430c7a150ff2d07ddc3d068de901f8e0aecdbe23',
    );
  });

  test('spells the examples of its documentation as it does', () => {
    expect([281, 282, 285, 134, 517, 639].map((i) => TORCHSERVE_LABELS[i])).toEqual([
      'tabby',
      'tiger_cat',
      'Egyptian_cat',
      'crane',
      'crane',
      'maillot',
    ]);
  });
});

describe('torchserveAnswer', () => {
  test('is {label: probability}, most probable first, in TorchServe’s spelling', () => {
    const predictions = [282, 281, 285].map((index, i) => ({
      index,
      label: IMAGENET_LABELS_EN[index] ?? '',
      label_zh: '',
      probability: 0.5 / (i + 1),
    }));
    const answer = JSON.parse(torchserveAnswer(predictions));
    expect(Object.entries(answer)).toEqual([
      ['tiger_cat', 0.5],
      ['tabby', 0.25],
      ['Egyptian_cat', 0.5 / 3],
    ]);
  });

  test('a name TorchServe spells twice keeps the first position and the last value, as its dict does', () => {
    const predictions = [134, 1, 517].map((index, i) => ({
      index,
      label: IMAGENET_LABELS_EN[index] ?? '',
      label_zh: '',
      probability: 0.4 - i * 0.1,
    }));
    expect(Object.entries(JSON.parse(torchserveAnswer(predictions)))).toEqual([
      ['crane', 0.2],
      ['goldfish', 0.30000000000000004],
    ]);
  });

  test('a model without ImageNet names answers by index, most probable first, as TorchServe without a mapping does', () => {
    const predictions = [17, 3].map((index, i) => ({
      index,
      label: `class_${index}`,
      label_zh: `class_${index}`,
      probability: 0.6 - i * 0.2,
    }));
    expect(torchserveAnswer(predictions)).toBe('{"17":0.6,"3":0.39999999999999997}');
  });
});
