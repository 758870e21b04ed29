import { invalidArgument } from '../../errors.js';
import { CONVNEXT } from './convnext.js';
import { EFFICIENTNET } from './efficientnet.js';
import { MOBILENET_V3 } from './mobilenet-v3.js';
import { REGNET_ARCHITECTURES } from './regnet.js';
import { RESNET_ARCHITECTURES } from './resnet.js';
import type { Architecture } from './types.js';

export type { Architecture, ArchitectureFamily, BuildOptions, BuiltArchitecture } from './types.js';

/** One line per family, in the order `ARCHITECTURES` lists them. */
const FAMILIES: readonly (readonly Architecture[])[] = [
  RESNET_ARCHITECTURES, // torchvision/models/resnet.py
  REGNET_ARCHITECTURES, // torchvision/models/regnet.py
  MOBILENET_V3, // torchvision/models/mobilenetv3.py
  EFFICIENTNET, // torchvision/models/efficientnet.py
  CONVNEXT, // torchvision/models/convnext.py
];

/** Every architecture resnet-serve builds, by TorchVision's builder name (as `torchvision.models.get_model` takes it). */
export const ARCHITECTURES: ReadonlyMap<string, Architecture> = new Map(
  FAMILIES.flat().map((architecture) => [architecture.name, architecture]),
);

/**
 * The architecture TorchVision builds as `name`.
 * @example architectureOf('resnet50').build(stateDict, { inputSize: 224 }).classes // → 1000
 * @throws ResnetServeError INVALID_ARGUMENT naming every known builder when `name` is not one of them.
 */
export function architectureOf(name: string): Architecture {
  const architecture = ARCHITECTURES.get(name);
  if (architecture === undefined) {
    throw invalidArgument('architecture', `a TorchVision builder name (${[...ARCHITECTURES.keys()].join(', ')})`, name);
  }
  return architecture;
}
