import { CONVNEXT } from './convnext.js';
import { EFFICIENTNET } from './efficientnet.js';
import { MOBILENET_V3 } from './mobilenet-v3.js';
import type { Architecture } from './types.js';

/** Every architecture resnet-serve builds, by TorchVision's builder name (`torchvision.models.get_model`). */
export const ARCHITECTURES: ReadonlyMap<string, Architecture> = new Map(
  [...MOBILENET_V3, ...EFFICIENTNET, ...CONVNEXT].map((architecture) => [architecture.name, architecture]),
);
