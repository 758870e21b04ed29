import type { ChannelTables } from './pillow-resample.js';
import { IMAGENET_RECIPE } from './recipe.js';

/**
 * ToTensor + Normalize as 256-entry tables per channel: `((v / 255) - mean[c]) / std[c]` with every step
 * rounded to float32, as torch computes `img.to(float32).div(255).sub_(mean).div_(std)` (mean and std are
 * float32 tensors). Each step is one IEEE operation on float32 inputs, and a double result rounded to
 * float32 equals the float32 operation, so `Math.fround` after each step reproduces torch exactly.
 */
export function normalizationTables(recipe: { mean: readonly number[]; std: readonly number[] } = IMAGENET_RECIPE): ChannelTables {
  const table = (channel: number): Float32Array => {
    const mean = Math.fround(recipe.mean[channel]!);
    const std = Math.fround(recipe.std[channel]!);
    const values = new Float32Array(256);
    for (let v = 0; v < 256; v++) values[v] = Math.fround(Math.fround(Math.fround(v / 255) - mean) / std);
    return values;
  };
  return [table(0), table(1), table(2)];
}
