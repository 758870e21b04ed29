import { describe, expect, it } from 'vitest';
import { type BatchNormParams, foldBatchNorm } from '../../src/model/fold-batchnorm.js';

/** Naive NCHW conv (batch 1, stride 1, no padding) in float64, the reference the folded conv must reproduce. */
function conv2d(
  x: Float64Array,
  inChannels: number,
  size: number,
  weight: Float32Array,
  outChannels: number,
  kernel: number,
  bias?: Float32Array,
): Float64Array {
  const outSize = size - kernel + 1;
  const out = new Float64Array(outChannels * outSize * outSize);
  for (let o = 0; o < outChannels; o++) {
    for (let y = 0; y < outSize; y++) {
      for (let xx = 0; xx < outSize; xx++) {
        let sum = bias?.[o] ?? 0;
        for (let c = 0; c < inChannels; c++) {
          for (let ky = 0; ky < kernel; ky++) {
            for (let kx = 0; kx < kernel; kx++) {
              const w = weight[((o * inChannels + c) * kernel + ky) * kernel + kx] as number;
              sum += w * (x[(c * size + y + ky) * size + xx + kx] as number);
            }
          }
        }
        out[(o * outSize + y) * outSize + xx] = sum;
      }
    }
  }
  return out;
}

describe('foldBatchNorm', () => {
  it('scales each output channel by γ/√(var+eps) and shifts it by β − mean·γ/√(var+eps)', () => {
    // Channel 0: s = 0.5/√4 = 0.25; channel 1: s = 2/√0.25 = 4 (eps 0 keeps the numbers exact).
    const bn: BatchNormParams = {
      weight: Float32Array.of(0.5, 2),
      bias: Float32Array.of(0.125, -1),
      runningMean: Float32Array.of(1, -0.5),
      runningVar: Float32Array.of(4, 0.25),
    };
    const folded = foldBatchNorm(Float32Array.of(2, -3, 1, 0.5), bn, 0);
    expect([...folded.weight]).toEqual([0.5, -0.75, 4, 2]);
    expect([...folded.bias]).toEqual([-0.125, 1]);
  });

  it('uses eps 1e-5 by default and rounds the float64 result once to float32', () => {
    const bn: BatchNormParams = {
      weight: Float32Array.of(0.7312),
      bias: Float32Array.of(-0.04),
      runningMean: Float32Array.of(0.3311),
      runningVar: Float32Array.of(0.0123),
    };
    const weight = Float32Array.of(0.1, -0.2, 0.3);
    const folded = foldBatchNorm(weight, bn);
    const scale = (bn.weight[0] as number) / Math.sqrt((bn.runningVar[0] as number) + 1e-5);
    expect([...folded.weight]).toEqual([...weight].map((w) => Math.fround(w * scale)));
    expect(folded.bias[0]).toBe(Math.fround((bn.bias[0] as number) - (bn.runningMean[0] as number) * scale));
  });

  it('makes conv(x, W′) + b′ equal BatchNorm(conv(x, W)) on a 3×3 conv', () => {
    const inChannels = 2;
    const outChannels = 3;
    const size = 5;
    const weight = Float32Array.from({ length: outChannels * inChannels * 9 }, (_, i) => Math.sin(i * 1.7) * 0.4);
    const bn: BatchNormParams = {
      weight: Float32Array.of(1.3, 0.6, -0.9),
      bias: Float32Array.of(0.2, -0.4, 0.05),
      runningMean: Float32Array.of(0.8, -1.1, 0.3),
      runningVar: Float32Array.of(2.5, 0.4, 0.07),
    };
    const x = Float64Array.from({ length: inChannels * size * size }, (_, i) => Math.cos(i * 0.37));

    const raw = conv2d(x, inChannels, size, weight, outChannels, 3);
    const perChannel = raw.length / outChannels;
    const expected = raw.map((v, i) => {
      const o = Math.floor(i / perChannel);
      const [g, b, m, s2] = [bn.weight[o], bn.bias[o], bn.runningMean[o], bn.runningVar[o]] as number[];
      return ((v - (m as number)) / Math.sqrt((s2 as number) + 1e-5)) * (g as number) + (b as number);
    });
    const folded = foldBatchNorm(weight, bn);
    const actual = conv2d(x, inChannels, size, folded.weight, outChannels, 3, folded.bias);

    // Only the float32 rounding of W′ and b′ separates the two: well under 1e-6 at these magnitudes.
    for (const [i, v] of actual.entries()) expect(Math.abs(v - (expected[i] as number))).toBeLessThan(1e-6);
  });
});
