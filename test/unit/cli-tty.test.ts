import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { counted, downloadProgressBar, duration, formatDownloadProgress } from '../../src/cli/tty.js';

describe('formatDownloadProgress', () => {
  it('shows percent, bar, megabytes and rate when the size is known', () => {
    const line = formatDownloadProgress('resnet18-f37072fd.pth', {
      receivedBytes: 19_600_000,
      totalBytes: 46_800_000,
      bytesPerSecond: 8_300_000,
      done: false,
    });
    expect(line).toBe('resnet18-f37072fd.pth  41% [##########--------------] 19.6/46.8 MB 8.3 MB/s');
  });

  it('shows megabytes and rate when the size is unknown', () => {
    expect(formatDownloadProgress('w.pth', { receivedBytes: 1_500_000, totalBytes: undefined, bytesPerSecond: 500_000, done: false })).toBe(
      'w.pth  1.5 MB 0.5 MB/s',
    );
  });
});

describe('downloadProgressBar', () => {
  it('stays silent (no callback) when the stream is not a terminal', () => {
    expect(downloadProgressBar('w.pth', new PassThrough() as unknown as NodeJS.WriteStream)).toBeUndefined();
  });

  it('redraws one line on a terminal and ends it with a newline when done', () => {
    const tty = Object.assign(new PassThrough(), { isTTY: true });
    const draw = downloadProgressBar('w.pth', tty as unknown as NodeJS.WriteStream)!;
    draw({ receivedBytes: 10, totalBytes: 20, bytesPerSecond: 1, done: false });
    draw({ receivedBytes: 20, totalBytes: 20, bytesPerSecond: 1, done: true });
    const written = String(tty.read());
    expect(written.startsWith('\rw.pth  50%')).toBe(true);
    expect(written.endsWith('\n')).toBe(true);
  });
});

describe('one duration format and plurals for every progress line and summary', () => {
  it('writes seconds, minutes and hours alike', () => {
    expect([duration(45), duration(127), duration(3900), duration(Number.POSITIVE_INFINITY)]).toEqual(['45s', '2m07s', '1h05m', '?']);
  });

  it('counts in the singular for one', () => {
    expect([counted(0, 'file'), counted(1, 'file'), counted(2, 'file')]).toEqual(['0 files', '1 file', '2 files']);
    expect(counted(1, 'image differs', 'images differ')).toBe('1 image differs');
  });
});
