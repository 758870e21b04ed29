import { invalidArgument } from '../errors.js';
import { integerInRange } from '../guards.js';

/** Shard `index` (0-based) of a split of the files into `count`. */
export interface Shard {
  readonly index: number;
  readonly count: number;
}

/**
 * A shard of a split into `count` parts: `K/N` (0 ≤ K < N), or `N` alone with K from `completionIndex` (a
 * Kubernetes Indexed Job's `JOB_COMPLETION_INDEX`).
 * @throws ResnetServeError INVALID_ARGUMENT naming `name` (the flag) and what it expects.
 */
export function shardOf(name: string, value: string, completionIndex: string | undefined): Shard {
  const match = /^(?:(\d+)\/)?(\d+)$/.exec(value);
  const count = Number(match?.[2]);
  if (match === null || !Number.isSafeInteger(count) || count < 1) throw invalidArgument(name, 'K/N with 0 ≤ K < N, or N', value);
  const index = match[1] ?? completionIndex;
  if (index === undefined || !/^\d+$/.test(index)) throw invalidArgument(`${name} (K from JOB_COMPLETION_INDEX)`, 'a shard index', index);
  return { index: integerInRange(`${name} K`, Number(index), 0, count - 1), count };
}

/**
 * Whether `path` falls in `shard`: FNV-1a of the path, modulo N. A hash rather than a position, so a file's shard
 * does not move when others are added to or removed from the folders between runs.
 */
export function inShard(path: string, shard: Shard): boolean {
  let hash = 0x811c9dc5;
  for (const byte of Buffer.from(path, 'utf8')) hash = Math.imul(hash ^ byte, 0x01000193) >>> 0;
  return hash % shard.count === shard.index;
}
