import { describe, expect, it } from 'vitest';
import { convOutputSize, makeDivisible } from '../../src/model/architectures/torchvision-ops.js';

describe('makeDivisible', () => {
  // torchvision 0.29.1 torchvision.models._utils._make_divisible(v, 8) for each v.
  it.each([
    [35.2, 32],
    [33.599999999999994, 32],
    [72, 72],
    [134.4, 136],
    [17.6, 16],
    [240, 240],
    [1280, 1280],
  ])('rounds %f to the nearest multiple of 8: %i', (v, expected) => {
    expect(makeDivisible(v, 8)).toBe(expected);
  });

  it.each([
    [18, 24],
    [10, 16],
  ])('never rounds %i down by more than 10%%: %i', (v, expected) => {
    expect(makeDivisible(v, 8)).toBe(expected);
  });

  it('is at least the divisor', () => {
    expect(makeDivisible(3, 8)).toBe(8);
  });
});

describe('convOutputSize', () => {
  it('rounds a "same"-padded stride-2 convolution up, as PyTorch does', () => {
    expect([224, 100, 13, 7].map((n) => convOutputSize(n, 3, 2))).toEqual([112, 50, 7, 4]);
    expect(convOutputSize(13, 5, 2)).toBe(7);
  });

  it("floors an unpadded patchify stem (ConvNeXt's 4×4 stride 4)", () => {
    expect(convOutputSize(100, 4, 4, 0)).toBe(25);
    expect(convOutputSize(25, 2, 2, 0)).toBe(12);
  });
});
