import { defaultWeightsOf } from './official-weights.js';

/** The architecture resnet-serve serves when none is named (`--arch`): TorchVision's ResNet-18. */
export const DEFAULT_ARCHITECTURE = 'resnet18';

const resnet18 = defaultWeightsOf(DEFAULT_ARCHITECTURE);

/**
 * torchvision `ResNet18_Weights.IMAGENET1K_V1`, the table's resnet18 entry: what resnet-serve downloads when neither
 * `--arch` nor `--weights` is given. torch.hub checks that the SHA-256 starts with the hash in the file name.
 */
export const DEFAULT_WEIGHTS = Object.freeze({
  architecture: DEFAULT_ARCHITECTURE,
  url: resnet18.url,
  fileName: resnet18.fileName,
  sha256Prefix: resnet18.sha256Prefix,
});
