import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ERROR_CODES, invalidArgument, ResnetServeError } from '../../src/errors.js';

describe('error registry', () => {
  it('every code is documented in the README table with its HTTP status, and nothing else is', () => {
    const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
    const rows = [...readme.matchAll(/^\| `([A-Z_]+)` \| (\d{3}) \|/gm)].map((m) => [m[1], Number(m[2])]);
    const registry = Object.entries(ERROR_CODES).map(([code, spec]) => [code, spec.status]);
    expect(rows.sort()).toEqual(registry.sort());
  });

  it('an error carries its code, the status from the registry and the cause', () => {
    const cause = new Error('libvips: premature end of JPEG');
    const error = new ResnetServeError('IMAGE_CORRUPT', 'The image is truncated.', { cause });
    expect(error).toMatchObject({ code: 'IMAGE_CORRUPT', statusCode: 422, cause });
  });

  it('invalidArgument names the parameter, the expectation and what was received', () => {
    const error = invalidArgument('topK', 'an integer from 1 to 20', 1.5);
    expect(error.code).toBe('INVALID_ARGUMENT');
    expect(error.message).toBe('Expected an integer from 1 to 20 for topK but received 1.5');
  });
});
