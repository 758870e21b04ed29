import { basename } from 'node:path';
import { ResnetServeError } from '../errors.js';
import { sha256OfFile } from '../files/sha256.js';
import { claimedSha256Prefix } from './official-weights.js';

/**
 * The SHA-256 of a weights file before its first use, checked against the prefix its name promises when it is named
 * as TorchVision names its files (`resnet18-f37072fd.pth`), wherever it came from: a download (checked already), a
 * copy put into the cache by hand, or `--weights`. The hash is remembered in `cacheDir` by the file's path, size and
 * modification time, so an unchanged file is read once; the model id is made from it.
 *
 * @param cacheDir - where the check is remembered (`<cacheDir>/sha256/`); undefined checks every time.
 * @returns the SHA-256, hex.
 * @throws ResnetServeError WEIGHTS_INVALID when the hash does not start with the prefix in the name;
 *   INPUT_NOT_FOUND when the file cannot be read.
 */
export async function checkWeightsFile(path: string, cacheDir: string | undefined): Promise<string> {
  const sha256 = await sha256OfFile(path, cacheDir).catch((cause: unknown) => {
    throw new ResnetServeError('INPUT_NOT_FOUND', `Cannot read the weights file ${path}.`, { cause, details: { path } });
  });
  const expectedPrefix = claimedSha256Prefix(basename(path));
  if (expectedPrefix !== undefined && !sha256.startsWith(expectedPrefix)) {
    const facts = { path, sha256, expectedPrefix };
    throw new ResnetServeError('WEIGHTS_INVALID', facts, { details: facts });
  }
  return sha256;
}
