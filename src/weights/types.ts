export type DType = 'float32' | 'float16' | 'bfloat16' | 'float64' | 'int64' | 'int32' | 'uint8' | 'int8' | 'bool';

/** One tensor of a checkpoint, contiguous, row-major, already converted to a JS typed array. */
export interface TensorData {
  readonly dtype: DType;
  readonly shape: readonly number[];
  /** float16/bfloat16/float64 are widened to Float32Array; integers keep their width. */
  readonly data: Float32Array | BigInt64Array | Int32Array | Uint8Array | Int8Array;
}

/** A PyTorch `state_dict`: parameter and buffer names in insertion order. */
export type StateDict = Map<string, TensorData>;

/**
 * A weights' preprocessing as torchvision's `weights.transforms()` gives it (`ImageClassification`,
 * torchvision/transforms/_presets.py): Resize(resizeSize, interpolation, antialias) of the shorter side,
 * CenterCrop(cropSize), /255, Normalize(mean, std).
 */
export interface WeightsRecipe {
  readonly resizeSize: number;
  readonly cropSize: number;
  readonly interpolation: 'bilinear' | 'bicubic';
  readonly mean: readonly number[];
  readonly std: readonly number[];
  readonly antialias: boolean;
}

/** One TorchVision weights enum member: where it is published, how its inputs are prepared, its model card. */
export interface TorchvisionWeights {
  /** The builder it loads into (`torchvision.models.get_model` name). */
  readonly architecture: string;
  /** The weights enum, e.g. `ResNet50_Weights`. */
  readonly enum: string;
  /** The enum member, e.g. `IMAGENET1K_V2`. */
  readonly weights: string;
  readonly url: string;
  /** The URL's last segment, as torch.hub saves it. */
  readonly fileName: string;
  /** What torch.hub's `check_hash` reads from the file name (`-([a-f0-9]*)\.`): the SHA-256 must start with it. */
  readonly sha256Prefix: string;
  readonly recipe: WeightsRecipe;
  /** `len(meta["categories"])`. */
  readonly classes: number;
  /** Which label set `meta["categories"]` is (checked equal to torchvision's `_IMAGENET_CATEGORIES`). */
  readonly labels: 'imagenet-1k';
  readonly meta: {
    readonly numParams: number;
    /** `min_size` (height, width) the architecture accepts. */
    readonly minSize: readonly [number, number];
    /** ImageNet-1K top-1 and top-5 accuracy, in percent. */
    readonly acc1: number;
    readonly acc5: number;
    /** `_ops`: GFLOPS for one image at the recipe's crop size. */
    readonly gflops: number;
    /** `_file_size`: the published file's size in MB. */
    readonly fileSizeMb: number;
  };
}
