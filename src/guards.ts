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

/**
 * An integer option's default and range, declared once by the stage that owns the option, beside its
 * implementation; the stage's own check and the command line's flag both read it.
 */
export interface IntegerOption {
  readonly default: number;
  readonly min: number;
  /** No upper bound when absent. */
  readonly max?: number;
}

/** `spec.default` when `value` is undefined, else `value` checked against the spec's range. */
export function integerOption(name: string, value: unknown, spec: IntegerOption): number {
  return value === undefined ? spec.default : integerInRange(name, value, spec.min, spec.max);
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
 * A rule between arguments (one excludes another, one needs another, a command needs operands): throws
 * INVALID_ARGUMENT with `message`, which says what to give instead.
 */
export function argumentRule(holds: boolean, message: string): void {
  if (!holds) throw new ResnetServeError('INVALID_ARGUMENT', message);
}

/** A value an argument rule demands: returns it, or throws INVALID_ARGUMENT with `message`. */
export function requiredArgument<T>(value: T | undefined, message: string): T {
  argumentRule(value !== undefined, message);
  return value as T;
}

/** An absolute URL path made of plain characters (`/metrics`, `/internal/docs`), or `off`. */
export function routePathOrOff(name: string, value: unknown): string {
  if (typeof value !== 'string' || (value !== 'off' && !/^\/[\w./-]*$/.test(value))) {
    throw invalidArgument(name, 'an absolute path such as /metrics, or off', value);
  }
  return value;
}
