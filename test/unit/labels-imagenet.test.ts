import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { IMAGENET_LABELS, IMAGENET_LABELS_EN, IMAGENET_LABELS_ZH, labelFor } from '../../src/labels/index.js';

const sha256 = (names: readonly string[]): string => createHash('sha256').update(names.join('\n'), 'utf8').digest('hex');
const fixture = (name: string): string => readFileSync(new URL(`../fixtures/labels/${name}`, import.meta.url), 'utf8');

describe('IMAGENET_LABELS_EN (torchvision _IMAGENET_CATEGORIES)', () => {
  it('has exactly 1000 distinct names', () => {
    expect(IMAGENET_LABELS_EN).toHaveLength(1000);
    expect(new Set(IMAGENET_LABELS_EN).size).toBe(1000);
  });

  it('matches torchvision at well-known indices', () => {
    expect(IMAGENET_LABELS_EN[0]).toBe('tench');
    expect(IMAGENET_LABELS_EN[1]).toBe('goldfish');
    expect(IMAGENET_LABELS_EN[207]).toBe('golden retriever');
    expect(IMAGENET_LABELS_EN[281]).toBe('tabby');
    expect(IMAGENET_LABELS_EN[285]).toBe('Egyptian cat');
    expect(IMAGENET_LABELS_EN[409]).toBe('analog clock');
    expect(IMAGENET_LABELS_EN[999]).toBe('toilet tissue');
    // torchvision's own disambiguation of WordNet's duplicate names.
    expect(IMAGENET_LABELS_EN[134]).toBe('crane bird');
    expect(IMAGENET_LABELS_EN[517]).toBe('crane');
    expect(IMAGENET_LABELS_EN[638]).toBe('maillot');
    expect(IMAGENET_LABELS_EN[639]).toBe('maillot tank suit');
  });

  it('has the checksum Python computed from the torchvision source text', () => {
    // sha256('\n'.join(_IMAGENET_CATEGORIES)), printed by test/fixtures/labels/make_labels.py.
    expect(sha256(IMAGENET_LABELS_EN)).toBe('0b0f9fee7c952f257418d62aa701f023a9da13b443a14f5c4291e5724d92967c');
  });

  it('is frozen', () => {
    expect(Object.isFrozen(IMAGENET_LABELS_EN)).toBe(true);
    expect(() => (IMAGENET_LABELS_EN as string[]).push('x')).toThrow(TypeError);
  });
});

describe('IMAGENET_LABELS_ZH (Chinese-CLIP label_cn.txt, reviewed)', () => {
  it('has one name per class, each with Chinese text', () => {
    expect(IMAGENET_LABELS_ZH).toHaveLength(1000);
    for (const [i, name] of IMAGENET_LABELS_ZH.entries()) {
      expect(name, `index ${i}`).toMatch(/\p{Script=Han}/u);
      expect(name.trim(), `index ${i}`).toBe(name);
    }
  });

  it('gives distinct classes distinct names, as the English does', () => {
    const seen = new Map<string, number>();
    for (const [i, name] of IMAGENET_LABELS_ZH.entries()) {
      const first = seen.get(name);
      if (first !== undefined) expect(IMAGENET_LABELS_EN[first], `${name}: ${first} and ${i}`).toBe(IMAGENET_LABELS_EN[i]);
      seen.set(name, i);
    }
  });

  it('lines up with the English index for index', () => {
    const expected: [number, string][] = [
      [0, '丁鲷'],
      [1, '金鱼'],
      [2, '大白鲨'],
      [7, '公鸡'],
      [8, '母鸡'],
      [134, '鹤'],
      [517, '起重机'],
      [638, '女游泳衣'],
      [639, '有肩带浴衣'],
      [151, '吉娃娃'],
      [207, '金毛猎犬'],
      [208, '拉布拉多猎犬'],
      [235, '德国牧羊犬'],
      [250, '西伯利亚雪橇犬'],
      [254, '巴哥犬'],
      [258, '萨摩耶犬'],
      [259, '博美犬'],
      [263, '彭布洛克威尔士科基犬'],
      [268, '墨西哥无毛犬'],
      [281, '虎斑猫'],
      [283, '波斯猫'],
      [284, '暹罗猫'],
      [285, '埃及猫'],
      [288, '豹'],
      [290, '美洲豹'],
      [291, '狮子'],
      [292, '老虎'],
      [334, '豪猪'],
      [388, '大熊猫'],
      [409, '指针式时钟'],
      [474, '开衫'],
      [264, '卡狄根威尔斯柯基犬'],
      [657, '导弹'],
      [744, '炮弹'],
      [705, '铁路客车车厢'],
      [829, '有轨电车'],
      [836, '墨镜'],
      [837, '太阳镜'],
      [950, '橙子'],
      [999, '卫生纸'],
    ];
    for (const [index, name] of expected) expect(IMAGENET_LABELS_ZH[index], `index ${index}`).toBe(name);
  });

  it('is upstream label_cn.txt with exactly the reviewed corrections applied', () => {
    const upstream = fixture('chinese-clip-label_cn.txt').split('\n').slice(0, 1000);
    const corrections = JSON.parse(fixture('zh-corrections.json')) as { index: number; en: string; upstream: string; ours: string }[];
    const expected = [...upstream];
    for (const c of corrections) {
      expect(IMAGENET_LABELS_EN[c.index]).toBe(c.en);
      expect(upstream[c.index]).toBe(c.upstream);
      expected[c.index] = c.ours;
    }
    expect(IMAGENET_LABELS_ZH).toEqual(expected);
    expect(sha256(IMAGENET_LABELS_ZH)).toBe('dc5802e0f47c93af3ac2abcfa2c381e6771c3f5e58583066f41d597ec8d9fad3');
  });

  it('is frozen', () => {
    expect(Object.isFrozen(IMAGENET_LABELS_ZH)).toBe(true);
  });
});

describe('labelFor', () => {
  it('names a class in either language', () => {
    expect(labelFor(281)).toBe('tabby');
    expect(labelFor(281, 'en')).toBe('tabby');
    expect(labelFor(281, 'zh')).toBe('虎斑猫');
  });

  it('falls back to class_<index> outside the label set', () => {
    expect(labelFor(1000)).toBe('class_1000');
    expect(labelFor(3, 'zh', { en: ['a'], zh: ['甲'] })).toBe('class_3');
  });

  it('defaults to the ImageNet set', () => {
    expect(IMAGENET_LABELS.en).toBe(IMAGENET_LABELS_EN);
    expect(IMAGENET_LABELS.zh).toBe(IMAGENET_LABELS_ZH);
  });
});
