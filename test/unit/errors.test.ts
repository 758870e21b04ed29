import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { sectionOf } from '../../scripts/doc-sections.mjs';
import { errorCodesTable } from '../../src/cli/usage.js';
import { ERROR_CODES, formatBytes, inContext, invalidArgument, ResnetServeError } from '../../src/errors.js';
import { errorBodySchema } from '../../src/server/errors.js';

describe('error registry', () => {
  it('docs/errors.md’s table lists every code with its HTTP status and summary, and nothing else', () => {
    const page = readFileSync(new URL('../../docs/errors.md', import.meta.url), 'utf8');
    const rows = [...page.matchAll(/^\| `([A-Z_]+)` \| (\d{3}) \| (.*) \|$/gm)].map((m) => [m[1], Number(m[2]), m[3]]);
    const registry = Object.entries(ERROR_CODES).map(([code, spec]) => [code, spec.status, spec.summary]);
    expect([...rows.values()].sort()).toEqual(registry.sort());
  });

  it('docs/errors.md’s table is the one generated from the registry, in its order (npm run docs writes it)', () => {
    const page = readFileSync(new URL('../../docs/errors.md', import.meta.url), 'utf8');
    expect(sectionOf(page, 'generated:errors')).toBe(errorCodesTable());
    expect(errorCodesTable().split('\n').slice(2, 4)).toEqual([
      '| `INVALID_ARGUMENT` | 400 | A parameter is missing, of the wrong type or out of range. |',
      '| `FILE_MISSING` | 400 | The request has no file in the multipart part the route reads (`file` for /predict, `data` for TorchServe), or its file name is empty. |',
    ]);
  });

  it('the error body schema (and so the OpenAPI document) offers exactly the registry’s codes', () => {
    expect(errorBodySchema.properties.code.enum).toEqual(Object.keys(ERROR_CODES));
  });

  it('an error carries its code, the status from the registry and the cause', () => {
    const cause = new Error('libvips: premature end of JPEG');
    const error = new ResnetServeError('IMAGE_CORRUPT', { format: 'jpeg', part: 'data' }, { cause });
    expect(error).toMatchObject({ code: 'IMAGE_CORRUPT', statusCode: 422, cause });
  });

  it('an event’s message comes from its code’s template', () => {
    const tooLarge = (subject: string) => new ResnetServeError('FILE_TOO_LARGE', { subject, limitBytes: 10 * 1024 * 1024 }).message;
    expect(tooLarge('The upload')).toBe('The upload is larger than the 10 MiB limit (--max-upload).');
    expect(tooLarge('Input "image" element 2')).toBe('Input "image" element 2 is larger than the 10 MiB limit (--max-upload).');
    expect(new ResnetServeError('FILE_MISSING', { route: 'POST /predictions/resnet18', part: 'data' }).message).toBe(
      'POST /predictions/resnet18 expects multipart/form-data with the image in a part named `data` (curl -F data=@cat.jpg).',
    );
    expect(new ResnetServeError('CLIENT_ABORTED').message).toBe('The client closed the connection before the answer.');
  });

  it('a code that covers a family of events takes the thrower’s sentence', () => {
    expect(new ResnetServeError('CHECKPOINT_INVALID', 'Not a valid ZIP archive: no end record.').message).toBe(
      'Not a valid ZIP archive: no end record.',
    );
  });

  it('inContext tells the same failure where it happened, keeping its code, details and cause', () => {
    const error = new ResnetServeError('QUEUE_FULL', { maxQueue: 64 }, { details: { maxQueue: 64 } });
    const told = inContext(error, 'Input "image" element 3', { index: 3 });
    expect(told).toMatchObject({ code: 'QUEUE_FULL', statusCode: 503, cause: error, details: { maxQueue: 64, index: 3 } });
    expect(told.message).toBe(`Input "image" element 3: ${error.message}`);
  });

  it('invalidArgument names the parameter, the expectation and what was received', () => {
    const error = invalidArgument('topK', 'an integer from 1 to 20', 1.5);
    expect(error.code).toBe('INVALID_ARGUMENT');
    expect(error.message).toBe('Expected an integer from 1 to 20 for topK but received 1.5');
  });

  it.each([
    [700, '700 bytes'],
    [16 * 1024, '16 KiB'],
    [10 * 1024 * 1024, '10 MiB'],
    [10 * 1024 * 1024 + 64 * 1024, '10.1 MiB'],
  ])('formatBytes(%i) is %s', (bytes, text) => {
    expect(formatBytes(bytes)).toBe(text);
  });
});
