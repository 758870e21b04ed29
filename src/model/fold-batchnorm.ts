/** torch.nn.BatchNorm2d default `eps`, which torchvision's ResNet keeps. */
export const BATCH_NORM_EPS = 1e-5;

/** The four per-channel tensors of an eval-mode BatchNorm2d (`weight` is γ, `bias` is β). */
export interface BatchNormParams {
  readonly weight: Float32Array;
  readonly bias: Float32Array;
  readonly runningMean: Float32Array;
  readonly runningVar: Float32Array;
}

export interface FoldedConv {
  /** Same layout as the input weight, [out, in, kh, kw]. */
  readonly weight: Float32Array;
  /** One bias per output channel. */
  readonly bias: Float32Array;
}

/**
 * Folds an eval-mode BatchNorm into the bias-free convolution before it:
 * BN(conv(x, W)) = conv(x, W·s) + (β − mean·s) with s = γ / √(var + eps), per output channel.
 * The arithmetic is float64 and each result is rounded once to float32, so the folded weights are the
 * float32 values nearest to the exact ones; the remaining gap to PyTorch is its own float32 BN arithmetic.
 *
 * @param convWeight - row-major [out, in, kh, kw]; its length must be a multiple of `bn.weight.length`.
 * @param bn - per-channel tensors, each of length `out`.
 * @param eps - added to the variance; default 1e-5 (BatchNorm2d default).
 */
export function foldBatchNorm(convWeight: Float32Array, bn: BatchNormParams, eps: number = BATCH_NORM_EPS): FoldedConv {
  const outChannels = bn.weight.length;
  const perChannel = convWeight.length / outChannels;
  const weight = new Float32Array(convWeight.length);
  const bias = new Float32Array(outChannels);
  for (let o = 0; o < outChannels; o++) {
    const scale = (bn.weight[o] as number) / Math.sqrt((bn.runningVar[o] as number) + eps);
    bias[o] = (bn.bias[o] as number) - (bn.runningMean[o] as number) * scale;
    const start = o * perChannel;
    for (let i = start; i < start + perChannel; i++) weight[i] = (convWeight[i] as number) * scale;
  }
  return { weight, bias };
}
