import { resolveWeights } from '../../weights/fetch.js';
import type { Settings } from '../settings.js';
import { modelSource, note } from './shared.js';

/** `resnet-serve fetch`: only the download of the weights, verified, into the cache. */
export async function run(settings: Settings): Promise<number> {
  const path = await resolveWeights({ weightsUrl: settings.weightsUrl, home: settings.home, onProgress: modelSource(settings).onProgress });
  note(`Weights ready at ${path}`);
  return 0;
}
