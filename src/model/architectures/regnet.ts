import type { StateDict } from '../../weights/types.js';
import { BATCH_NORM_EPS } from '../fold-batchnorm.js';
import { attr } from '../onnx/graph.js';
import { classesOf } from './expected-tensors.js';
import { GraphBuilder, INPUT_NAME, OUTPUT_NAME } from './graph-builder.js';
import { REGNET_CONFIGS, type RegNetName, regnetLayout, regnetTensors } from './regnet-layout.js';
import { type ConvNormActivation, convNormActivation, outputSize } from './torchvision-ops.js';
import type { Architecture, BuildOptions, BuiltArchitecture } from './types.js';

/**
 * Builds the forward pass of torchvision's `RegNet.forward` as an ONNX graph with every BatchNorm folded into its
 * convolution: stem (Conv 3×3/2 → Relu) → trunk_output's four stages of ResBottleneckBlocks
 * (a: 1×1 → Relu, b: 3×3 grouped (the first block of a stage strided) → Relu, for RegNetY the SqueezeExcitation
 * GlobalAveragePool → fc1 → Relu → fc2 → Sigmoid → Mul, c: 1×1; added to the identity or the 1×1 `proj`, Relu)
 * → GlobalAveragePool → Flatten → Gemm(transB=1); trunk_output's output is also the graph output `features`.
 * Node names are torchvision module paths ('trunk_output.block1.block1-0.f.b.0').
 *
 * @throws ResnetServeError STATE_DICT_MISMATCH naming the first key that differs from TorchVision's `name`.
 */
function buildRegNet(name: RegNetName, stateDict: StateDict, options: BuildOptions): BuiltArchitecture {
  const layout = regnetLayout(REGNET_CONFIGS[name], classesOf(stateDict, 'fc'));
  regnetTensors(layout).check(stateDict, `a torchvision ${name} (${layout.classes} classes)`);
  const g = new GraphBuilder(stateDict);
  // _regnet: BatchNorm2d(eps=1e-05).
  const unit = (u: ConvNormActivation, input: string): string => convNormActivation(g, u, BATCH_NORM_EPS, input);

  let x = unit(layout.stem, INPUT_NAME);
  for (const block of layout.blocks) {
    let f = unit(block.b, unit(block.a, x));
    if (block.se !== undefined) f = g.squeezeExcitation(block.se, f);
    f = unit(block.c, f);
    const shortcut = block.proj === undefined ? x : unit(block.proj, x);
    x = g.node('Relu', `${block.name}.activation`, [g.node('Add', `${block.name}.add`, [shortcut, f])]);
  }
  g.features(x);
  x = g.node('GlobalAveragePool', 'avgpool', [x]);
  x = g.node('Flatten', 'flatten', [x], { axis: attr.int(1) });
  g.linear('fc', x, OUTPUT_NAME);
  const featureChannels = layout.featureChannels;
  // The stem and the strided 3×3 of each stage's first block set the side (7 at 224 px, 2 at 64).
  const grid = outputSize(options.inputSize, [layout.stem, ...layout.blocks.map((block) => block.b)]);
  const graph = g.finish(name, { inputSize: options.inputSize, classes: layout.classes, features: { channels: featureChannels, grid } });
  return { graph, classes: layout.classes, featureChannels };
}

/** The fifteen torchvision RegNet builders: RegNetY 400MF … 128GF, then RegNetX 400MF … 32GF. */
export const REGNET_ARCHITECTURES: readonly Architecture[] = Object.freeze(
  (Object.keys(REGNET_CONFIGS) as RegNetName[]).map(
    (name): Architecture => ({
      name,
      family: 'regnet',
      build: (stateDict, options) => buildRegNet(name, stateDict, options),
    }),
  ),
);
