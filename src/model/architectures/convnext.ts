import { integerInRange } from '../../guards.js';
import type { StateDict } from '../../weights/types.js';
import { classesOf, ExpectedTensors } from './expected-tensors.js';
import { GraphBuilder, INPUT_NAME, OUTPUT_NAME } from './graph-builder.js';
import type { Architecture, BuildOptions, BuiltArchitecture } from './types.js';

/**
 * torchvision/models/convnext.py: `ConvNeXt` with the `CNBlockConfig` lists of `convnext_tiny/small/base/large`.
 * Every norm is a LayerNorm (eps 1e-6) over channels; stochastic depth is the identity in eval mode.
 */

interface ConvNeXtConfig {
  /** Channels of the four stages. */
  readonly widths: readonly [number, number, number, number];
  /** CNBlocks per stage. */
  readonly depths: readonly [number, number, number, number];
}

/** `partial(LayerNorm2d, eps=1e-6)` and CNBlock's `partial(nn.LayerNorm, eps=1e-6)`. */
const EPS = 1e-6;
/** torchvision `min_size` (32, 32): the stem divides by 4 and three downsamplings by 2 each. */
const MIN_SIZE = 32;
const STEM_KERNEL = 4;
const DOWNSAMPLE_KERNEL = 2;
const BLOCK_KERNEL = 7;
/** CNBlock's inverted bottleneck: Linear(dim, 4·dim) → GELU → Linear(4·dim, dim). */
const EXPANSION = 4;
const CLASSIFIER = 'classifier.2';

const CONFIGS: Readonly<Record<string, ConvNeXtConfig>> = {
  convnext_tiny: { widths: [96, 192, 384, 768], depths: [3, 3, 9, 3] },
  convnext_small: { widths: [96, 192, 384, 768], depths: [3, 3, 27, 3] },
  convnext_base: { widths: [128, 256, 512, 1024], depths: [3, 3, 27, 3] },
  convnext_large: { widths: [192, 384, 768, 1536], depths: [3, 3, 27, 3] },
};

/**
 * Module paths in forward order: `features.0` the stem (conv `.0`, LayerNorm2d `.1`); `features.1/3/5/7` the
 * stages of CNBlocks (`features.S.i`); `features.2/4/6` the downsamplings (LayerNorm2d `.0`, conv `.1`);
 * `classifier.0` LayerNorm2d, `classifier.2` the Linear.
 */
function stageModule(stage: number): string {
  return `features.${2 * stage + 1}`;
}

function downsampleModule(stage: number): string {
  return `features.${2 * stage + 2}`;
}

function expectedTensors(config: ConvNeXtConfig, classes: number): ExpectedTensors {
  const expected = new ExpectedTensors();
  const [stem = 0] = config.widths;
  expected.conv('features.0.0', { in: 3, out: stem, kernel: STEM_KERNEL, bias: true }).layerNorm('features.0.1', stem);
  config.widths.forEach((dim, s) => {
    for (let i = 0; i < (config.depths[s] ?? 0); i++) {
      const block = `${stageModule(s)}.${i}`;
      expected
        .tensor(`${block}.layer_scale`, [dim, 1, 1])
        .conv(`${block}.block.0`, { in: dim, out: dim, kernel: BLOCK_KERNEL, groups: dim, bias: true })
        .layerNorm(`${block}.block.2`, dim)
        .linear(`${block}.block.3`, dim, EXPANSION * dim)
        .linear(`${block}.block.5`, EXPANSION * dim, dim);
    }
    const next = config.widths[s + 1];
    if (next !== undefined) {
      const down = downsampleModule(s);
      expected.layerNorm(`${down}.0`, dim).conv(`${down}.1`, { in: dim, out: next, kernel: DOWNSAMPLE_KERNEL, bias: true });
    }
  });
  const last = config.widths[3];
  return expected.layerNorm('classifier.0', last).linear(CLASSIFIER, last, classes);
}

function convNeXt(name: string, config: ConvNeXtConfig): Architecture {
  return {
    name,
    family: 'convnext',
    build(stateDict: StateDict, options: BuildOptions): BuiltArchitecture {
      const inputSize = integerInRange('inputSize', options.inputSize, MIN_SIZE);
      const classes = classesOf(stateDict, CLASSIFIER);
      expectedTensors(config, classes).check(stateDict, `a torchvision ${name} (${classes} classes)`);
      const g = new GraphBuilder(stateDict);
      let x = g.conv({ conv: 'features.0.0', stride: STEM_KERNEL, pad: 0 }, INPUT_NAME);
      x = g.layerNorm2d('features.0.1', x, EPS);
      config.widths.forEach((dim, s) => {
        for (let i = 0; i < (config.depths[s] ?? 0); i++) x = cnBlock(g, `${stageModule(s)}.${i}`, dim, x);
        if (s + 1 < config.widths.length) {
          const down = downsampleModule(s);
          x = g.conv({ conv: `${down}.1`, stride: DOWNSAMPLE_KERNEL, pad: 0 }, g.layerNorm2d(`${down}.0`, x, EPS));
        }
      });
      // avgpool → LayerNorm2d → Flatten: on a 1×1 map, the LayerNorm over channels of the flattened [N, C].
      x = g.layerNorm('classifier.0', g.globalAveragePool(x), EPS);
      g.linear(CLASSIFIER, x, OUTPUT_NAME);
      // No `features`: the LayerNorm after the pool divides by the pooled features' own standard deviation, so
      // logits are not linear in the last map and a class activation map would not add up to them.
      return { graph: g.finish(name, { inputSize, classes }), classes, featureChannels: undefined };
    },
  };
}

/**
 * CNBlock: depthwise 7×7 → permute to NHWC → LayerNorm → Linear → GELU → Linear → permute back, times
 * layer_scale, plus the input. layer_scale (one value per channel) is folded into the second Linear.
 */
function cnBlock(g: GraphBuilder, block: string, dim: number, input: string): string {
  let x = g.conv({ conv: `${block}.block.0`, groups: dim }, input);
  x = g.layerNorm(`${block}.block.2`, g.transpose(`${block}.block.1`, x, [0, 2, 3, 1]), EPS);
  x = g.activation('gelu', `${block}.block.4`, g.linearLastAxis(`${block}.block.3`, x));
  x = g.linearLastAxis(`${block}.block.5`, x, g.float(`${block}.layer_scale`));
  return g.node('Add', `${block}.add`, [g.transpose(`${block}.block.6`, x, [0, 3, 1, 2]), input]);
}

/** `convnext_tiny` (28.6M parameters), `convnext_small` (50.2M), `convnext_base` (88.6M), `convnext_large` (197.8M). */
export const CONVNEXT: readonly Architecture[] = Object.entries(CONFIGS).map(([name, config]) => convNeXt(name, config));
