import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ERROR_CODES, formatBytes, inContext, invalidArgument, ResnetServeError } from '../../src/errors.js';
import { errorBodySchema } from '../../src/server/errors.js';

/** `| \`CODE\` | status | summary |` rows of a Markdown document's table of codes. */
function tableRows(markdown: string): [string, number, string][] {
  return [...markdown.matchAll(/^\| `([A-Z_]+)` \| (\d{3}) \| (.*) \|$/gm)].map((m) => [m[1] as string, Number(m[2]), m[3] as string]);
}

describe('error registry', () => {
  it('the README table lists every code with its HTTP status and summary, and nothing else', () => {
    // A row in docs/_drafts/ is a pending change to the README's table (a new code, a reworded summary): the lead
    // folds the drafts into the documentation, so until then a draft's row stands for the README's.
    const rows = new Map(tableRows(readFileSync(new URL('../../README.md', import.meta.url), 'utf8')).map((row) => [row[0], row]));
    const drafts = new URL('../../docs/_drafts/', import.meta.url);
    const draftFiles = existsSync(drafts) ? readdirSync(drafts).filter((name) => name.endsWith('.md')) : [];
    for (const name of draftFiles) for (const row of tableRows(readFileSync(new URL(name, drafts), 'utf8'))) rows.set(row[0], row);
    const registry = Object.entries(ERROR_CODES).map(([code, spec]) => [code, spec.status, spec.summary]);
    expect([...rows.values()].sort()).toEqual(registry.sort());
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
