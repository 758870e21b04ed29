import { describe, expect, it } from 'vitest';
import type { FileResult } from '../../src/bulk/run.js';
import { formatTable } from '../../src/cli/classify-table.js';
import { displayWidth, maxColumns, padEndColumns, padStartColumns } from '../../src/cli/display-width.js';
import { formatEvalReport } from '../../src/cli/eval-report.js';
import type { AccuracySummary } from '../../src/eval/accuracy.js';
import type { EvalReport } from '../../src/eval/evaluate.js';
import { IMAGENET_LABELS_EN } from '../../src/labels/imagenet-en.js';
import { IMAGENET_LABELS_ZH } from '../../src/labels/imagenet-zh.js';

describe('displayWidth', () => {
  it.each([
    ['tabby', 5],
    ['虎斑猫', 6],
    ['金毛寻回犬', 10],
    // Fullwidth forms and ideographic punctuation are two columns; Hangul and kana too.
    ['ＡＢＣ', 6],
    ['猫、狗。', 8],
    ['고양이', 6],
    ['ねこ', 4],
    // A combining accent sits on the letter before it: "é" as e + U+0301 is one column, as is the precomposed é.
    ['cafe\u0301', 4],
    ['café', 4],
    ['a\u200bb', 2],
    // Outside the Basic Multilingual Plane: CJK Extension B, and an emoji.
    ['𠀀', 2],
    ['🐈', 2],
    ['', 0],
  ])('%j is %i columns', (text, columns) => {
    expect(displayWidth(text)).toBe(columns);
  });

  it('pads by columns, never cutting what is wider', () => {
    expect(padEndColumns('虎斑猫', 8)).toBe('虎斑猫  ');
    expect(padStartColumns('虎斑猫', 8)).toBe('  虎斑猫');
    expect(padEndColumns('虎斑猫', 4)).toBe('虎斑猫');
    expect(maxColumns(['tabby', '虎斑猫', 'cafe\u0301'])).toBe(6);
    expect(maxColumns([])).toBe(0);
  });
});

/** The column, in display columns, at which `needle` starts on `line`. */
function columnOf(line: string, needle: string): number {
  return displayWidth(line.slice(0, line.indexOf(needle)));
}

describe('tables with Chinese names line up', () => {
  const indices = [281, 282, 285];
  const result: FileResult = {
    file: 'cat.jpg',
    model: 'resnet18-f37072fd',
    precision: 'fp32',
    predictions: indices.map((index, i) => ({
      index,
      label: IMAGENET_LABELS_EN[index] ?? '',
      label_zh: IMAGENET_LABELS_ZH[index] ?? '',
      probability: [0.71, 0.19, 0.05][i] ?? 0,
    })),
  };

  it('classify --lang zh: the percent column starts at one display column on every line', () => {
    const lines = formatTable([result], 'zh').trimEnd().split('\n').slice(1);
    expect(lines).toHaveLength(3);
    // The names differ in length, so a padEnd by code units would put the column in different places.
    expect(new Set(indices.map((index) => IMAGENET_LABELS_ZH[index]?.length)).size).toBeGreaterThan(1);
    const columns = lines.map((line) => columnOf(line, '%') - 4);
    expect(new Set(columns).size).toBe(1);
    expect(lines[0]).toContain(`${IMAGENET_LABELS_ZH[281]}`);
  });

  it('classify in English prints the same shape', () => {
    expect(formatTable([result], 'en')).toBe(
      ['cat.jpg', '  1. tabby          71.0%  (281)', '  2. tiger cat      19.0%  (282)', '  3. Egyptian cat    5.0%  (285)', ''].join(
        '\n',
      ),
    );
  });

  it('eval: the accuracy columns start at one display column whatever the model names', () => {
    const accuracy: AccuracySummary = {
      images: 2,
      top1: { correct: 1, total: 2, rate: 0.5, ci95: [0.1, 0.9] },
      top5: { correct: 2, total: 2, rate: 1, ci95: [0.5, 1] },
      confusions: [],
    };
    const report: EvalReport = {
      evaluated: 2,
      files: 2,
      layout: 'index-folders',
      elapsedMs: 1000,
      unreadable: [],
      models: [
        { name: '模型-int8.onnx', accuracy },
        { name: 'resnet18.onnx', accuracy },
      ],
    };
    const lines = formatEvalReport(report, (index) => String(index)).split('\n');
    const table = lines.filter((line) => /^(model|模型|resnet18)/.test(line));
    expect(table).toHaveLength(3);
    expect(new Set(table.map((line) => columnOf(line, line.startsWith('model') ? 'top-1' : '50.00%'))).size).toBe(1);
  });
});
