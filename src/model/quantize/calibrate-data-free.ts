import { ResnetServeError } from '../../errors.js';
import { IMAGENET_RECIPE, type PreprocessRecipe } from '../../image/recipe.js';
import type { StateDict } from '../../weights/types.js';
import { checkResNetStateDict, resnetName } from '../architectures/resnet.js';
import { convBnUnits } from '../architectures/resnet-layout.js';
import type { Architecture, ArchitectureFamily } from '../architectures/types.js';
import type { OnnxGraph } from '../onnx/graph.js';
import { planQuantization } from './graph.js';
import type { ActivationRanges, TensorRange } from './params.js';

export interface DataFreeOptions {
  /**
   * The torchvision ResNet builder the graph was built as (`resnet50`, `resnext50_32x4d`…), whose Conv nodes are
   * named by its modules; default 'resnet18'. Every ResNet has only the ops this estimate follows.
   */
  architecture?: string;
  /** The preprocessing of the graph's input, whose mean and std bound a normalised pixel. Default ResNet-18 IMAGENET1K_V1's. */
  recipe?: PreprocessRecipe;
  /**
   * Half-width of each range in standard deviations: a channel N(μ, σ²) is given [μ − kσ, μ + kσ]. Default 16:
   * real activations are heavy-tailed, their observed maxima being 3–5 × the 4σ estimate. On test/fixtures/int8
   * (150 held-out images) the mean KL(fp32 ‖ int8) was 5.5e-2 at k=4 (top-1 agreement 99.3%), 2.3e-3 at 8,
   * 1.0e-4 at 12, 3.2e-5 at 16, 4.1e-5 at 20 and 5.7e-5 at 28 (top-1 100% from k=8).
   */
  k?: number;
  /**
   * For the global-average-pool output: mean + poolK · std of each rectified channel. Default 4
   * (with k=16: KL 1.1e-3 at 2, 8.1e-5 at 3, 3.2e-5 at 4, 2.9e-5 at 6).
   */
  poolK?: number;
}

export const DATA_FREE_K = 16;
export const DATA_FREE_POOL_K = 4;

/** Per-channel Gaussian N(mean, std²), or its ReLU when `rectified`. */
interface ChannelStats {
  readonly mean: Float64Array;
  readonly std: Float64Array;
  readonly rectified: boolean;
}

/**
 * Estimates every activation range without images, from the BatchNorm statistics of the checkpoint: in eval mode
 * BN normalises with the running statistics of the training data, so each channel after conv+BN is about
 * N(β, γ²). The estimate is propagated through the ResNet: ReLU → rectified Gaussian (its exact mean/variance),
 * residual Add → sum of means and of variances (branches taken as independent), MaxPool 3×3 → mean raised by one
 * std (a max of correlated neighbours), GlobalAveragePool → per-channel mean of the rectified input.
 * The graph input uses the range of a normalised [0, 1] pixel under the recipe.
 *
 * @param graph - a ResNet's graph (`resnet.ts`; its Conv nodes carry the torchvision conv names).
 * @param stateDict - the same checkpoint, with its BatchNorm tensors (they are folded away in the graph).
 * @throws ResnetServeError INVALID_ARGUMENT when `options.architecture` is not a ResNet; STATE_DICT_MISMATCH when
 *   the state_dict is not that ResNet; INTERNAL when the graph holds an op this estimate does not model.
 */
export function dataFreeRanges(graph: OnnxGraph, stateDict: StateDict, options: DataFreeOptions = {}): ActivationRanges {
  const k = options.k ?? DATA_FREE_K;
  const poolK = options.poolK ?? DATA_FREE_POOL_K;
  const architecture = resnetName('architecture', options.architecture ?? 'resnet18');
  const bnOfConv = new Map(convBnUnits(checkResNetStateDict(architecture, stateDict)).map((unit) => [unit.conv, unit.bn]));
  const stats = new Map<string, ChannelStats>();
  const ranges = new Map<string, TensorRange>();
  for (const input of graph.inputs) ranges.set(input.name, normalisedPixelRange(options.recipe ?? IMAGENET_RECIPE));

  for (const node of graph.nodes) {
    const input = stats.get(node.inputs[0] ?? '');
    const output = node.outputs[0] ?? '';
    switch (node.opType) {
      case 'Conv': {
        const bn = bnOfConv.get(node.name);
        if (bn === undefined) throw unmodelled(node.name, node.opType);
        const gamma = floats(stateDict, `${bn}.weight`);
        stats.set(output, {
          mean: Float64Array.from(floats(stateDict, `${bn}.bias`)),
          std: Float64Array.from(gamma, Math.abs),
          rectified: false,
        });
        break;
      }
      case 'Relu':
        if (input === undefined) throw unmodelled(node.name, node.opType);
        stats.set(output, { ...input, rectified: true });
        break;
      case 'MaxPool':
        if (input === undefined) throw unmodelled(node.name, node.opType);
        stats.set(output, { ...input, mean: input.mean.map((m, c) => m + (input.std[c] as number)) });
        break;
      case 'Add': {
        const [a, b] = node.inputs.map((name) => stats.get(name)).map((s) => (s === undefined ? undefined : moments(s)));
        if (a === undefined || b === undefined) throw unmodelled(node.name, node.opType);
        const mean = a.mean.map((m, c) => m + (b.mean[c] as number));
        const std = a.std.map((s, c) => Math.hypot(s, b.std[c] as number));
        stats.set(output, { mean, std, rectified: false });
        break;
      }
      case 'GlobalAveragePool': {
        if (input === undefined) throw unmodelled(node.name, node.opType);
        const m = moments(input);
        let max = 0;
        for (const [c, mean] of m.mean.entries()) max = Math.max(max, mean + poolK * (m.std[c] as number));
        ranges.set(output, { min: 0, max });
        break;
      }
      default:
        break;
    }
  }
  for (const name of planQuantization(graph).rangeTensors) {
    if (ranges.has(name)) continue;
    const s = stats.get(name);
    if (s === undefined) throw new ResnetServeError('INTERNAL', `No data-free estimate for tensor ${name}.`);
    ranges.set(name, gaussianRange(s, k));
  }
  return ranges;
}

/** [min over channels of μ − kσ, max of μ + kσ]; a ReLU output starts at 0. */
function gaussianRange(stats: ChannelStats, k: number): TensorRange {
  let min = Infinity;
  let max = -Infinity;
  stats.mean.forEach((mean, c) => {
    const s = stats.std[c] as number;
    min = Math.min(min, mean - k * s);
    max = Math.max(max, mean + k * s);
  });
  return stats.rectified ? { min: 0, max: Math.max(max, 0) } : { min, max };
}

/** Mean and std of each channel; for ReLU(N(μ, σ²)) the rectified-Gaussian moments (with α = μ/σ):
 * E = μΦ(α) + σφ(α), E[x²] = (μ² + σ²)Φ(α) + μσφ(α). */
function moments(stats: ChannelStats): { mean: Float64Array; std: Float64Array } {
  if (!stats.rectified) return stats;
  const mean = new Float64Array(stats.mean.length);
  const std = new Float64Array(stats.mean.length);
  stats.mean.forEach((mu, c) => {
    const sigma = stats.std[c] as number;
    if (sigma === 0) {
      mean[c] = Math.max(mu, 0);
      return;
    }
    const alpha = mu / sigma;
    const cdf = normalCdf(alpha);
    const pdf = Math.exp(-0.5 * alpha * alpha) / Math.sqrt(2 * Math.PI);
    const m = mu * cdf + sigma * pdf;
    const second = (mu * mu + sigma * sigma) * cdf + mu * sigma * pdf;
    mean[c] = m;
    std[c] = Math.sqrt(Math.max(second - m * m, 0));
  });
  return { mean, std };
}

/** Φ via erf, Abramowitz & Stegun 7.1.26 (|error| < 1.5e-7, far below what a range estimate needs). */
function normalCdf(x: number): number {
  const z = Math.abs(x) / Math.SQRT2;
  const t = 1 / (1 + 0.3275911 * z);
  const erf = 1 - ((((1.061405429 * t - 1.453152027) * t + 1.421413741) * t - 0.284496736) * t + 0.254829592) * t * Math.exp(-z * z);
  return x >= 0 ? 0.5 * (1 + erf) : 0.5 * (1 - erf);
}

/** The extremes of (pixel − mean) / std over the three channels for pixels in [0, 1]. */
function normalisedPixelRange({ mean, std }: Pick<PreprocessRecipe, 'mean' | 'std'>): TensorRange {
  const lows = mean.map((m, c) => (0 - m) / (std[c] as number));
  const highs = mean.map((m, c) => (1 - m) / (std[c] as number));
  return { min: Math.min(...lows), max: Math.max(...highs) };
}

/**
 * Why each family other than ResNet has no data-free estimate: a range propagated from BatchNorm statistics would
 * need the distribution after each of these ops, and a wrong guess there clips every later layer.
 */
const NO_DATA_FREE_ESTIMATE: Readonly<Record<Exclude<ArchitectureFamily, 'resnet'>, string>> = {
  regnet:
    "RegNetY's squeeze-excitation gates (Sigmoid, Mul) scale each channel by a value no BatchNorm statistic predicts, and RegNetX's BatchNorms are not mapped for the estimate",
  mobilenet_v3:
    "MobileNetV3's Hardswish and its squeeze-excitation gates (HardSigmoid, Mul) change ranges in ways no BatchNorm statistic predicts",
  efficientnet:
    "EfficientNet's SiLU (x · sigmoid(x)) and its squeeze-excitation gates (Sigmoid, Mul) change ranges in ways no BatchNorm statistic predicts",
  convnext: 'ConvNeXt has LayerNorms, not BatchNorms: there are no statistics to estimate ranges from',
};

/**
 * Refuses int8 without calibration images for an architecture the data-free estimate cannot follow.
 * @throws ResnetServeError INVALID_ARGUMENT with `details` { parameter: 'calibration', architecture, reason }.
 */
export function refuseDataFree(architecture: Architecture): void {
  if (architecture.family === 'resnet') return;
  const reason = NO_DATA_FREE_ESTIMATE[architecture.family];
  throw new ResnetServeError(
    'INVALID_ARGUMENT',
    `int8 for ${architecture.name} needs calibration images: ${reason}. Calibrate with images (convert --precision int8 --calibration DIR, a few dozen photos like those it will see).`,
    { details: { parameter: 'calibration', architecture: architecture.name, reason: `data-free-${architecture.family}` } },
  );
}

function floats(stateDict: StateDict, key: string): Float32Array {
  const data = stateDict.get(key)?.data;
  if (!(data instanceof Float32Array)) throw new ResnetServeError('INTERNAL', `The checked state_dict lost its float tensor ${key}.`);
  return data;
}

function unmodelled(name: string, opType: string): ResnetServeError {
  return new ResnetServeError('INTERNAL', `The data-free range estimate cannot follow ${opType} node ${name}.`);
}
