import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { IMAGENET_WNIDS } from '../../src/labels/imagenet-wnids.js';
import { IMAGENET_LABELS_EN } from '../../src/labels/index.js';

describe('IMAGENET_WNIDS (ILSVRC2012 synsets in torchvision class order)', () => {
  it('has 1000 distinct ids of WordNet noun-offset form', () => {
    expect(IMAGENET_WNIDS).toHaveLength(1000);
    expect(new Set(IMAGENET_WNIDS).size).toBe(1000);
    for (const id of IMAGENET_WNIDS) expect(id).toMatch(/^n\d{8}$/);
  });

  it('is sorted, the order torchvision ImageFolder gives ImageNet val folders', () => {
    expect([...IMAGENET_WNIDS].sort()).toEqual(IMAGENET_WNIDS);
  });

  it('lines up with the English labels at well-known classes', () => {
    const at = (wnid: string): string | undefined => IMAGENET_LABELS_EN[IMAGENET_WNIDS.indexOf(wnid)];
    // WordNet 3.0 synsets, as ImageNet names them.
    expect(at('n01440764')).toBe('tench');
    expect(at('n02123045')).toBe('tabby');
    expect(at('n02099601')).toBe('golden retriever');
    expect(at('n02012849')).toBe('crane bird');
    expect(at('n03126707')).toBe('crane');
    expect(at('n15075141')).toBe('toilet tissue');
  });

  it('has the checksum the generating script printed', () => {
    const sum = createHash('sha256').update(IMAGENET_WNIDS.join('\n')).digest('hex');
    expect(sum).toBe('385e0240499426c022b773be1ae4da780f057b89c9694c7f47199f62746b6edd');
  });
});
