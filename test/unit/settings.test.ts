import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { sectionOf } from '../../scripts/doc-sections.mjs';
import { resolveClassifierOptions } from '../../src/classifier/options.js';
import { DEFAULTS, resolveSettings, SETTINGS } from '../../src/cli/settings.js';
import { limitsTable } from '../../src/cli/usage.js';
import { thrownError } from '../helpers/errors.js';

describe('the settings table', () => {
  it('is docs/limits.md’s table, generated (npm run docs writes it)', () => {
    const page = readFileSync(new URL('../../docs/limits.md', import.meta.url), 'utf8');
    expect(page).toContain(`${limitsTable()}\n`);
    expect(sectionOf(page, 'generated:limits')).toBe(limitsTable());
  });

  it('gives every setting a flag and RESNET_SERVE_<FLAG>, and the port PORT as well', () => {
    expect(SETTINGS.maxUploadBytes.env).toEqual(['RESNET_SERVE_MAX_UPLOAD']);
    expect(SETTINGS.port.env).toEqual(['RESNET_SERVE_PORT', 'PORT']);
    expect(SETTINGS.home.env).toEqual(['RESNET_SERVE_HOME']);
    const flags = Object.values(SETTINGS).map((entry) => entry.flag);
    expect(new Set(flags).size).toBe(flags.length);
  });

  it('takes a flag over its environment variable over the default, and says where each came from', () => {
    const env = { RESNET_SERVE_MAX_UPLOAD: '1234567', PORT: '23456', RESNET_SERVE_MAX_QUEUE: '9' };
    const { values, sources } = resolveSettings('serve', { 'max-queue': '7' }, env);
    expect([values.maxUploadBytes, sources.maxUploadBytes]).toEqual([1_234_567, 'env RESNET_SERVE_MAX_UPLOAD']);
    expect([values.port, sources.port]).toEqual([23_456, 'env PORT']);
    expect([values.maxQueue, sources.maxQueue]).toEqual([7, 'flag']);
    expect([values.maxBatch, sources.maxBatch]).toEqual([DEFAULTS.maxBatch, 'default']);
  });

  it('reads RESNET_SERVE_PORT before PORT, and treats an empty variable as unset', () => {
    expect(resolveSettings('serve', {}, { RESNET_SERVE_PORT: '1', PORT: '2' }).values.port).toBe(1);
    expect(resolveSettings('serve', {}, { RESNET_SERVE_PORT: '', PORT: '2' }).values.port).toBe(2);
  });

  it('reads only the variables of the command it resolves for', () => {
    // classify does not listen: a container's PORT must not break it.
    expect(resolveSettings('classify', {}, { PORT: 'not-a-port' }).values.port).toBe(DEFAULTS.port);
  });

  it('refuses a bad value naming the flag or the variable it came from, with the same wording', () => {
    const fromFlag = thrownError(() => resolveSettings('serve', { 'max-batch': '65' }, {}));
    const fromEnv = thrownError(() => resolveSettings('serve', {}, { RESNET_SERVE_MAX_BATCH: '0' }));
    const fromOption = thrownError(() => resolveClassifierOptions({ model: 'resnet18.onnx', maxBatch: 1.5 }));
    expect(fromFlag.message).toBe('Expected an integer from 1 to 64 for --max-batch but received 65');
    expect(fromEnv.message).toBe('Expected an integer from 1 to 64 for RESNET_SERVE_MAX_BATCH but received 0');
    expect(fromOption.message).toBe('Expected an integer from 1 to 64 for maxBatch but received 1.5');
    expect(thrownError(() => resolveSettings('serve', {}, { PORT: 'http' })).message).toBe(
      'Expected an integer from 0 to 65535 for PORT but received "http"',
    );
    expect(thrownError(() => resolveSettings('classify', {}, { RESNET_SERVE_DEBUG: 'maybe' })).code).toBe('INVALID_ARGUMENT');
  });

  it('reads booleans from variables as 1/0, true/false, yes/no', () => {
    expect(resolveSettings('classify', {}, { RESNET_SERVE_JSON: 'yes' }).values.json).toBe(true);
    expect(resolveSettings('classify', {}, { RESNET_SERVE_JSON: '0' }).values.json).toBe(false);
  });
});
