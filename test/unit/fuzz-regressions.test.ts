/**
 * Replays the inputs `npm run fuzz` found (test/fixtures/fuzz/<target>/*.bin) through the same targets:
 * each must be accepted or refused with a ResnetServeError, within a few seconds, as every input must.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { isResnetServeError } from '../../src/errors.js';
import { TARGETS } from '../fuzz/targets.js';

const FIXTURES = join(import.meta.dirname, '..', 'fixtures', 'fuzz');

for (const target of TARGETS) {
  const dir = join(FIXTURES, target.name);
  const inputs = existsSync(dir)
    ? readdirSync(dir)
        .filter((name) => name.endsWith('.bin'))
        .sort()
    : [];
  if (inputs.length === 0) continue;
  describe(`fuzz target ${target.name}`, () => {
    test.each(inputs)('%s is accepted or refused with a registry code', { timeout: 10_000 }, async (name) => {
      const run = await target.open();
      try {
        const outcome = await Promise.resolve()
          .then(() => run(new Uint8Array(readFileSync(join(dir, name)))))
          .then(
            () => 'accepted',
            (error: unknown) => (isResnetServeError(error) ? `refused ${error.code}` : error),
          );
        expect(outcome).toMatch(/^(accepted|refused [A-Z_]+)$/);
      } finally {
        await target.close();
      }
    });
  });
}
