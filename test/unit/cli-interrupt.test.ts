import { afterEach, describe, expect, it } from 'vitest';
import { catchInterrupts, type Interruption, signalExitCode } from '../../src/cli/interrupt.js';

describe('signalExitCode', () => {
  it('is the status a shell reports: 128 + the signal number', () => {
    expect(signalExitCode('SIGINT')).toBe(130);
    expect(signalExitCode('SIGTERM')).toBe(143);
  });
});

describe('catchInterrupts', () => {
  let interruption: Interruption | undefined;
  afterEach(() => interruption?.dispose());

  it('aborts at the first signal and ends the process by the second signal', () => {
    const exits: string[] = [];
    interruption = catchInterrupts({ exit: (signal) => exits.push(signal) });
    process.emit('SIGTERM', 'SIGTERM');
    expect(interruption.signal.aborted).toBe(true);
    expect(interruption.received).toBe('SIGTERM');
    expect(exits).toEqual([]);
    process.emit('SIGINT', 'SIGINT');
    expect(exits).toEqual(['SIGINT']);
    expect(interruption.received).toBe('SIGTERM');
  });

  it('leaves no handler behind once disposed', () => {
    const counts = (): number[] => [process.listenerCount('SIGINT'), process.listenerCount('SIGTERM')];
    const before = counts();
    const caught = catchInterrupts({ exit: () => undefined });
    expect(counts()).toEqual(before.map((n) => n + 1));
    caught.dispose();
    expect(counts()).toEqual(before);
    expect(caught.signal.aborted).toBe(false);
  });
});
