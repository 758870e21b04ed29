import { invalidArgument } from './errors.js';

/**
 * Argument checks for the edges (CLI flags, library options). Each returns the checked value and throws
 * INVALID_ARGUMENT with "Expected <what> for <name> but received <value>" otherwise.
 */
export function integerInRange(name: string, value: unknown, min: number, max: number = Number.MAX_SAFE_INTEGER): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    const expected = max === Number.MAX_SAFE_INTEGER ? `an integer of at least ${min}` : `an integer from ${min} to ${max}`;
    throw invalidArgument(name, expected, value);
  }
  return value;
}

export function oneOf<const T extends string>(name: string, value: unknown, allowed: readonly T[]): T {
  if (typeof value !== 'string' || !(allowed as readonly string[]).includes(value)) {
    throw invalidArgument(name, `one of ${allowed.map((a) => JSON.stringify(a)).join(', ')}`, value);
  }
  return value as T;
}
