import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { formatProgress, progressBar } from '../../src/weights/progress.js';

describe('formatProgress', () => {
  it('shows percent, bar, megabytes and rate when the size is known', () => {
    const line = formatProgress('resnet18-f37072fd.pth', {
      receivedBytes: 19_600_000,
      totalBytes: 46_800_000,
      bytesPerSecond: 8_300_000,
      done: false,
    });
    expect(line).toBe('resnet18-f37072fd.pth  41% [##########--------------] 19.6/46.8 MB 8.3 MB/s');
  });

  it('shows megabytes and rate when the size is unknown', () => {
    expect(formatProgress('w.pth', { receivedBytes: 1_500_000, totalBytes: undefined, bytesPerSecond: 500_000, done: false })).toBe(
      'w.pth  1.5 MB 0.5 MB/s',
    );
  });
});

describe('progressBar', () => {
  it('stays silent (no callback) when the stream is not a terminal', () => {
    expect(progressBar('w.pth', new PassThrough() as unknown as NodeJS.WriteStream)).toBeUndefined();
  });

  it('redraws one line on a terminal and ends it with a newline when done', () => {
    const tty = Object.assign(new PassThrough(), { isTTY: true });
    const draw = progressBar('w.pth', tty as unknown as NodeJS.WriteStream)!;
    draw({ receivedBytes: 10, totalBytes: 20, bytesPerSecond: 1, done: false });
    draw({ receivedBytes: 20, totalBytes: 20, bytesPerSecond: 1, done: true });
    const written = String(tty.read());
    expect(written.startsWith('\rw.pth  50%')).toBe(true);
    expect(written.endsWith('\n')).toBe(true);
  });
});
