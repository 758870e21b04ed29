/** What the model computes in: float32 throughout, or int8 weights with uint8 activations (QDQ). */
export type Precision = 'fp32' | 'int8';

export const PRECISIONS = ['fp32', 'int8'] as const satisfies readonly Precision[];

/** Classes of ImageNet-1k, the label set resnet-serve names (labels/): TorchVision's classifiers all output these. */
export const IMAGENET_1K_CLASSES = 1000;

/** The precision when none is asked for: the float model torchvision's weights define. */
export const DEFAULT_PRECISION: Precision = 'fp32';
