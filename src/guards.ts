import { invalidArgument, ResnetServeError } from './errors.js';

/**
 * Argument checks for the edges (CLI flags, environment variables, library options). Each returns the checked
 * value and throws INVALID_ARGUMENT with "Expected <what> for <name> but received <value>" otherwise, so every
 * check in the project words its failure the same way.
 */
export function integerInRange(name: string, value: unknown, min: number, max: number = Number.MAX_SAFE_INTEGER): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min || value > max) {
    const expected = max === Number.MAX_SAFE_INTEGER ? `an integer of at least ${min}` : `an integer from ${min} to ${max}`;
    throw invalidArgument(name, expected, value);
  }
  return value;
}

/** A number in `[min, max]` (or `(min, max]` with `exclusiveMin`). */
export function numberInRange(name: string, value: unknown, min: number, max: number, exclusiveMin = false): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || (exclusiveMin ? value <= min : value < min) || value > max) {
    throw invalidArgument(name, `a number in ${exclusiveMin ? '(' : '['}${min}, ${max}]`, value);
  }
  return value;
}

export function oneOf<const T extends string>(name: string, value: unknown, allowed: readonly T[]): T {
  if (typeof value !== 'string' || !(allowed as readonly string[]).includes(value)) {
    throw invalidArgument(name, `one of ${allowed.map((a) => JSON.stringify(a)).join(', ')}`, value);
  }
  return value as T;
}

/** `undefined`, or a non-empty string. */
export function optionalText(name: string, value: unknown): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'string' || value === '') throw invalidArgument(name, 'a non-empty string', value);
  return value;
}

const TRUE_TEXT = new Set(['1', 'true', 'yes']);
const FALSE_TEXT = new Set(['0', 'false', 'no']);

/** A boolean, or its spelling in an environment variable (`1`/`true`/`yes`, `0`/`false`/`no`). */
export function booleanText(name: string, value: unknown): boolean {
  if (typeof value === 'boolean') return value;
  if (typeof value === 'string' && TRUE_TEXT.has(value.toLowerCase())) return true;
  if (typeof value === 'string' && FALSE_TEXT.has(value.toLowerCase())) return false;
  throw invalidArgument(name, 'true or false (1/0, yes/no)', value);
}

/** A function, for callbacks passed as options. */
export function callable<T extends (...args: never[]) => unknown>(name: string, value: unknown, expected: string): T {
  if (typeof value !== 'function') throw invalidArgument(name, expected, value);
  return value as T;
}

/** A length that must equal `expected` (a tensor's, a list's). */
export function exactLength(name: string, actual: number, expected: number, what: string): void {
  if (actual !== expected) throw invalidArgument(name, `${expected} ${what}`, actual);
}

/** An instance of `type` (a Buffer is a Uint8Array), for the library's typed-array and Map arguments. */
export function instanceOf<T>(name: string, value: unknown, type: abstract new (...args: never[]) => T, expected: string): T {
  if (!(value instanceof type)) throw invalidArgument(name, expected, value);
  return value;
}

/** An options object (not null, not an array). */
export function optionsObject<T extends object>(name: string, value: T): T {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw invalidArgument(name, 'an options object', value);
  return value;
}

/** A list that must not be empty. */
export function nonEmpty<T extends { readonly length: number }>(name: string, values: T, what: string): T {
  if (values.length === 0) throw invalidArgument(name, `at least one ${what}`, 0);
  return values;
}

/**
 * An http(s) URL whose last path segment is a plain file name (`[A-Za-z0-9_.-]`, not only dots): download sources,
 * whose name becomes a cache file name.
 * @returns that file name, decoded.
 */
export function httpFileName(name: string, value: string): string {
  let url: URL;
  let fileName: string;
  try {
    url = new URL(value);
    fileName = decodeURIComponent(url.pathname.split('/').pop() ?? '');
  } catch {
    throw invalidArgument(name, 'an http(s) URL', value);
  }
  if ((url.protocol !== 'http:' && url.protocol !== 'https:') || !/^[\w.-]+$/.test(fileName) || /^\.+$/.test(fileName)) {
    throw invalidArgument(name, 'an http(s) URL ending in a file name', value);
  }
  return fileName;
}

/**
 * A rule between arguments (one excludes another, one needs another, a command needs operands): throws
 * INVALID_ARGUMENT with `message`, which says what to give instead.
 */
export function argumentRule(holds: boolean, message: string): void {
  if (!holds) throw new ResnetServeError('INVALID_ARGUMENT', message);
}

/** A `{ min, max }` of finite numbers (an activation range). */
export function finiteRange<T extends { min: number; max: number }>(name: string, value: T | undefined): T {
  if (value === undefined || !Number.isFinite(value.min) || !Number.isFinite(value.max))
    throw invalidArgument(name, 'a finite { min, max }', value);
  return value;
}

/** A value an argument rule demands: returns it, or throws INVALID_ARGUMENT with `message`. */
export function requiredArgument<T>(value: T | undefined, message: string): T {
  argumentRule(value !== undefined, message);
  return value as T;
}

/**
 * A shard of a split into `count` parts: `K/N` (0 ≤ K < N), or `N` alone with K from `completionIndex` (a
 * Kubernetes Indexed Job's `JOB_COMPLETION_INDEX`).
 */
export function shardOf(name: string, value: string, completionIndex: string | undefined): { index: number; count: number } {
  const match = /^(?:(\d+)\/)?(\d+)$/.exec(value);
  const count = Number(match?.[2]);
  if (match === null || !Number.isSafeInteger(count) || count < 1) throw invalidArgument(name, 'K/N with 0 ≤ K < N, or N', value);
  const index = match[1] ?? completionIndex;
  if (index === undefined || !/^\d+$/.test(index)) throw invalidArgument(`${name} (K from JOB_COMPLETION_INDEX)`, 'a shard index', index);
  return { index: integerInRange(`${name} K`, Number(index), 0, count - 1), count };
}

/** An absolute URL path made of plain characters (`/metrics`, `/internal/docs`), or `off`. */
export function routePathOrOff(name: string, value: unknown): string {
  if (typeof value !== 'string' || (value !== 'off' && !/^\/[\w./-]*$/.test(value))) {
    throw invalidArgument(name, 'an absolute path such as /metrics, or off', value);
  }
  return value;
}
