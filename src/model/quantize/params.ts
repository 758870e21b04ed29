/**
 * Quantisation arithmetic, the same as onnxruntime/python/tools/quantization/quant_utils.py (`compute_scale_zp`,
 * `quantize_nparray`) and onnx_quantizer.py (`quantize_bias_static`): uint8 asymmetric activations,
 * symmetric int8 weights per output channel in [-127, 127], int32 biases with scale = input scale × weight scale.
 */

/** A float interval an activation tensor is expected to stay in. */
export interface TensorRange {
  readonly min: number;
  readonly max: number;
}

/** Activation ranges keyed by tensor name in the float graph (see `planQuantization`). */
export type ActivationRanges = ReadonlyMap<string, TensorRange>;

export interface UInt8Params {
  readonly scale: number;
  readonly zeroPoint: number;
}

const UINT8_MAX = 255;
/** Symmetric int8 uses ±127, not -128, so that negating a weight never overflows (ORT `get_qmin_qmax_for_qType`). */
const INT8_SYMMETRIC_MAX = 127;
const INT32_MIN = -(2 ** 31);
const INT32_MAX = 2 ** 31 - 1;

/**
 * uint8 parameters for a range. The range is widened to contain 0 so that 0 (ReLU's floor, padding) is exact;
 * a range whose min is 0 gets zero point 0, so quantising also applies the ReLU (which is why ORT may drop it).
 */
export function uint8Params(range: TensorRange): UInt8Params {
  const min = Math.min(range.min, 0);
  const max = Math.max(range.max, 0);
  const scale = Math.fround((max - min) / UINT8_MAX);
  if (!(scale > 0) || !Number.isFinite(scale)) return { scale: 1, zeroPoint: 0 };
  return { scale, zeroPoint: clamp(Math.round(-min / scale), 0, UINT8_MAX) };
}

export interface PerChannelInt8 {
  readonly data: Int8Array;
  /** One scale per output channel; the zero points are all 0. */
  readonly scales: Float32Array;
}

/**
 * Symmetric per-channel int8 for a weight whose output channel is axis 0 (Conv [O,I,kh,kw], Gemm B with transB=1
 * [O,I]) or axis 1 (MatMul B [I,O]). A channel of zeros gets scale 1 (ORT does the same) so no scale is 0 and the
 * bias scale stays usable.
 */
export function quantizePerChannel(weight: Float32Array, channels: number, axis: 0 | 1 = 0): PerChannelInt8 {
  const perChannel = weight.length / channels;
  // Element j of channel c: axis 0 keeps each channel contiguous, axis 1 interleaves them (row-major [I, O]).
  const index = axis === 0 ? (c: number, j: number) => c * perChannel + j : (c: number, j: number) => j * channels + c;
  const data = new Int8Array(weight.length);
  const scales = new Float32Array(channels);
  for (let c = 0; c < channels; c++) {
    let absMax = 0;
    for (let j = 0; j < perChannel; j++) absMax = Math.max(absMax, Math.abs(weight[index(c, j)] as number));
    const scale = absMax > 0 ? Math.fround(absMax / INT8_SYMMETRIC_MAX) : 1;
    scales[c] = scale;
    for (let j = 0; j < perChannel; j++) {
      const i = index(c, j);
      data[i] = clamp(Math.round((weight[i] as number) / scale), -INT8_SYMMETRIC_MAX, INT8_SYMMETRIC_MAX);
    }
  }
  return { data, scales };
}

export interface Int32Bias {
  readonly data: Int32Array;
  readonly scales: Float32Array;
}

/**
 * int32 bias with scale inputScale × weightScale[c], the scale QLinearConv/QGemm accumulate in, so the fused
 * kernel adds it to the int32 accumulator without any rescaling.
 */
export function quantizeBias(bias: Float32Array, inputScale: number, weightScales: Float32Array): Int32Bias {
  const data = new Int32Array(bias.length);
  const scales = new Float32Array(bias.length);
  for (let c = 0; c < bias.length; c++) {
    const scale = Math.fround(inputScale * (weightScales[c] as number));
    scales[c] = scale;
    data[c] = clamp(Math.round((bias[c] as number) / scale), INT32_MIN, INT32_MAX);
  }
  return { data, scales };
}

function clamp(value: number, low: number, high: number): number {
  return Math.min(high, Math.max(low, value));
}
