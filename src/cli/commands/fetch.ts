import { checkWeightsFile } from '../../weights/check-weights.js';
import { resolveWeights } from '../../weights/fetch.js';
import type { Settings } from '../settings.js';
import { downloadedFile, modelSource, note } from './shared.js';

/**
 * `resnet-serve fetch [--arch NAME]`: only the download of the weights (the architecture's DEFAULT ones, or
 * `--weights-url`'s), verified, into the cache. A file already there is verified too: a copy under a TorchVision
 * name must have the hash that name promises (WEIGHTS_INVALID otherwise).
 */
export async function run(settings: Settings): Promise<number> {
  const { architecture } = downloadedFile(settings);
  const path = await resolveWeights({
    architecture,
    weightsUrl: settings.weightsUrl,
    home: settings.home,
    onProgress: modelSource(settings).onProgress,
  });
  const sha256 = await checkWeightsFile(path, settings.home);
  note(`Weights ready at ${path} (${architecture}, SHA-256 ${sha256.slice(0, 8)}…)`);
  return 0;
}
