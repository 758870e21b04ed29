/** torchvision `ResNet18_Weights.IMAGENET1K_V1`; torch.hub checks that the SHA-256 starts with the hash in the file name. */
export const DEFAULT_WEIGHTS = Object.freeze({
  url: 'https://download.pytorch.org/models/resnet18-f37072fd.pth',
  fileName: 'resnet18-f37072fd.pth',
  sha256Prefix: 'f37072fd',
  modelName: 'resnet18-imagenet1k-v1',
});
