import { homedir } from 'node:os';
import { join } from 'node:path';

/** Where downloaded weights and converted models live: `$RESNET_SERVE_HOME`, else `~/.cache/resnet-serve`. */
export function cacheDir(env: NodeJS.ProcessEnv = process.env): string {
  const fromEnv = env.RESNET_SERVE_HOME;
  return fromEnv !== undefined && fromEnv !== '' ? fromEnv : join(homedir(), '.cache', 'resnet-serve');
}
