import { describe, expect, it } from 'vitest';
import { recipeGeometry, resizedSize, roundHalfToEven } from '../../src/image/recipe-geometry.js';
import { readManifest } from './image-reference.js';

describe('recipe geometry (torchvision Resize(256) + CenterCrop(224))', () => {
  it.each(readManifest().fixtures.map((f) => [f.file, f] as const))(
    '%s: same resized size and crop as the Python reference',
    (_name, f) => {
      const g = recipeGeometry(f.size[0], f.size[1]);
      expect([g.resizedWidth, g.resizedHeight]).toEqual(f.resized);
      expect([g.cropTop, g.cropLeft]).toEqual(f.cropTopLeft);
    },
  );

  it('truncates the long side like int(256 * long / short) and keeps squares square', () => {
    expect(resizedSize(500, 375, 256)).toEqual({ width: 341, height: 256 });
    expect(resizedSize(301, 477, 256)).toEqual({ width: 256, height: 405 });
    expect(resizedSize(640, 640, 256)).toEqual({ width: 256, height: 256 });
  });

  it('rounds crop offsets half to even, like Python round()', () => {
    expect([roundHalfToEven(58.5), roundHalfToEven(90.5), roundHalfToEven(91.5), roundHalfToEven(16)]).toEqual([58, 90, 92, 16]);
    expect([roundHalfToEven(0.4), roundHalfToEven(0.6), roundHalfToEven(0.5)]).toEqual([0, 1, 0]);
  });
});
