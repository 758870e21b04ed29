import { invalidArgument } from '../errors.js';
import { TORCHVISION_WEIGHTS } from './torchvision-weights.js';
import type { TorchvisionWeights } from './types.js';

/** Checkpoint extensions a weights file may carry; TorchVision publishes `.pth`. */
const EXTENSIONS = ['.pth', '.safetensors'] as const;
/** torch.hub's file names end `-<hex>` (hub.py HASH_REGEX `-([a-f0-9]*)\.`); TorchVision's hash prefixes are 8 long. */
const HASHED_STEM = /^(?<name>[a-z0-9_]+)-(?<hash>[0-9a-f]{8,64})$/;

/**
 * TorchVision's DEFAULT weights for `architecture` (a builder name, as `torchvision.models.get_model` takes it).
 * @example defaultWeightsOf('resnet50').url // → 'https://download.pytorch.org/models/resnet50-11ad3fa6.pth'
 * @throws ResnetServeError INVALID_ARGUMENT naming every architecture of the table when it is not one of them.
 */
export function defaultWeightsOf(architecture: string): TorchvisionWeights {
  const weights = Object.hasOwn(TORCHVISION_WEIGHTS, architecture) ? TORCHVISION_WEIGHTS[architecture] : undefined;
  if (weights === undefined) {
    throw invalidArgument('architecture', `a TorchVision builder name (${Object.keys(TORCHVISION_WEIGHTS).join(', ')})`, architecture);
  }
  return weights;
}

/**
 * The TorchVision weights a checkpoint is, by its content: `architecture`'s DEFAULT weights when `sha256` starts with
 * their published hash prefix. Their card (top-1, GFLOPs) then describes the model served.
 * @example officialWeightsOf('resnet18', 'f37072fd…')?.meta.acc1 // → 69.758
 */
export function officialWeightsOf(architecture: string | undefined, sha256: string): TorchvisionWeights | undefined {
  if (architecture === undefined || !Object.hasOwn(TORCHVISION_WEIGHTS, architecture)) return undefined;
  const weights = TORCHVISION_WEIGHTS[architecture];
  return weights !== undefined && sha256.startsWith(weights.sha256Prefix) ? weights : undefined;
}

/**
 * The architecture a weights file's name implies when it is named as TorchVision names its files: the builder name,
 * optionally `_`-suffixed tokens (`_swag`, `_lc_swag`, `_rwightman`), then `-` and the hash prefix torch.hub checks —
 * or just the builder name — with a `.pth` or `.safetensors` extension. Only names are compared: the state_dict
 * check still decides whether the file fits.
 *
 * @param fileName - a file name, without its folder.
 * @returns the builder name, or undefined when the name implies none.
 * @example architectureOfWeightsFile('resnet50-11ad3fa6.pth') // → 'resnet50'
 * @example architectureOfWeightsFile('regnet_y_16gf_lc_swag-f3ec0043.pth') // → 'regnet_y_16gf'
 */
export function architectureOfWeightsFile(fileName: string): string | undefined {
  return torchvisionName(fileName)?.architecture;
}

/**
 * The SHA-256 prefix a `.pth` named as TorchVision names its files promises (`resnet50-11ad3fa6.pth` → `11ad3fa6`):
 * torch.hub checks it when it downloads the file, and resnet-serve checks it before it first uses a file under such
 * a name, wherever it came from. Other names (and `.safetensors`, which TorchVision does not publish) promise none.
 *
 * @example claimedSha256Prefix('resnet18-f37072fd.pth') // → 'f37072fd'
 * @example claimedSha256Prefix('my-model-20250117.pth') // → undefined (no builder name before the hex)
 */
export function claimedSha256Prefix(fileName: string): string | undefined {
  return fileName.endsWith('.pth') ? torchvisionName(fileName)?.hash : undefined;
}

/** The builder and hash prefix of a file named as TorchVision names its files, or undefined. */
function torchvisionName(fileName: string): { architecture: string; hash: string | undefined } | undefined {
  const extension = EXTENSIONS.find((ext) => fileName.endsWith(ext));
  if (extension === undefined) return undefined;
  const stem = fileName.slice(0, -extension.length);
  const hashed = HASHED_STEM.exec(stem)?.groups;
  const name = hashed?.name ?? stem;
  // The longest builder that is the whole name or its prefix before a `_` suffix (none is another's prefix today).
  let match: string | undefined;
  for (const architecture of Object.keys(TORCHVISION_WEIGHTS)) {
    const fits = name === architecture || (name !== stem && name.startsWith(`${architecture}_`));
    if (fits && architecture.length > (match?.length ?? 0)) match = architecture;
  }
  return match === undefined ? undefined : { architecture: match, hash: hashed?.hash };
}
