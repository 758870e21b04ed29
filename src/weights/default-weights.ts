import { defaultWeightsOf } from './official-weights.js';

const resnet18 = defaultWeightsOf('resnet18');

/**
 * torchvision `ResNet18_Weights.IMAGENET1K_V1`, the table's resnet18 entry; torch.hub checks that the SHA-256
 * starts with the hash in the file name. `modelName` is the architecture and the weights in the page's spelling.
 */
export const DEFAULT_WEIGHTS = Object.freeze({
  url: resnet18.url,
  fileName: resnet18.fileName,
  sha256Prefix: resnet18.sha256Prefix,
  modelName: `${resnet18.architecture}-${resnet18.weights.toLowerCase().replaceAll('_', '-')}`,
});
