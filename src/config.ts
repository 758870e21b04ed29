import { availableParallelism, homedir } from 'node:os';
import { join } from 'node:path';

/**
 * torchvision's `ResNet18_Weights.IMAGENET1K_V1.transforms()`: `ImageClassification(crop_size=224)`
 * (torchvision/transforms/_presets.py), i.e. Resize(256, bilinear, antialias=True) of the shorter side,
 * CenterCrop(224) with offsets `int(round((size - 224) / 2.0))`, ToTensor (/255), Normalize(mean, std).
 */
export const IMAGENET_RECIPE = Object.freeze({
  resizeSize: 256,
  cropSize: 224,
  mean: Object.freeze([0.485, 0.456, 0.406] as const),
  std: Object.freeze([0.229, 0.224, 0.225] as const),
  interpolation: 'bilinear',
  antialias: true,
} as const);

/** Number of floats in one preprocessed image: 3 × 224 × 224. */
export const INPUT_ELEMENTS = 3 * IMAGENET_RECIPE.cropSize * IMAGENET_RECIPE.cropSize;

/** torchvision `ResNet18_Weights.IMAGENET1K_V1`; torch.hub checks that the SHA-256 starts with the hash in the file name. */
export const DEFAULT_WEIGHTS = Object.freeze({
  url: 'https://download.pytorch.org/models/resnet18-f37072fd.pth',
  fileName: 'resnet18-f37072fd.pth',
  sha256Prefix: 'f37072fd',
  modelName: 'resnet18-imagenet1k-v1',
});

export const DEFAULTS = Object.freeze({
  topK: 3,
  maxTopK: 20,
  host: '127.0.0.1',
  port: 8080,
  /** Bytes of one upload (`--max-upload`). */
  maxUploadBytes: 10 * 1024 * 1024,
  /** Pixels of one decoded image (`--max-pixels`); larger inputs are rejected from their header. */
  maxPixels: 40_000_000,
  /** Requests waiting for inference before new ones get 503 (`--max-queue`). */
  maxQueue: 64,
  /** Images per ONNX Runtime run (`--max-batch`). */
  maxBatch: 4,
  /** How long the first queued request waits for others to join its batch (`--batch-wait`). */
  batchWaitMs: 2,
  /** Images decoded at once while the session runs a batch (`--decode-concurrency`). */
  decodeConcurrency: 2,
  /** Longest a request may wait in the queue (`--request-timeout`). */
  requestTimeoutMs: 30_000,
  /** ONNX Runtime intra-op threads (`--threads`). */
  intraOpThreads: availableParallelism(),
});

/** Where downloaded weights and converted models live: `$RESNET_SERVE_HOME`, else `~/.cache/resnet-serve`. */
export function cacheDir(env: NodeJS.ProcessEnv = process.env): string {
  const fromEnv = env.RESNET_SERVE_HOME;
  return fromEnv !== undefined && fromEnv !== '' ? fromEnv : join(homedir(), '.cache', 'resnet-serve');
}
