import { describe, expect, it } from 'vitest';
import { BatchQueue } from '../../src/engine/batch-queue.js';
import { ResnetServeError } from '../../src/errors.js';

const options = { maxBatch: 4, batchWaitMs: 5, timeoutMs: 10_000 };

/** A processor that records the batches it saw and doubles each number. */
function recorder(delayMs = 0) {
  const batches: number[][] = [];
  const process = async (items: readonly number[]): Promise<PromiseSettledResult<number>[]> => {
    batches.push([...items]);
    if (delayMs > 0) await new Promise((r) => setTimeout(r, delayMs));
    return items.map((n) => (n < 0 ? { status: 'rejected', reason: new Error(`bad ${n}`) } : { status: 'fulfilled', value: n * 2 }));
  };
  return { batches, process };
}

describe('BatchQueue', () => {
  it('batches items submitted together, up to maxBatch, in order', async () => {
    const { batches, process } = recorder();
    const queue = new BatchQueue(process, options);
    const results = await Promise.all([1, 2, 3, 4, 5, 6].map((n) => queue.submit(n)));
    expect(results).toEqual([2, 4, 6, 8, 10, 12]);
    expect(batches).toEqual([
      [1, 2, 3, 4],
      [5, 6],
    ]);
  });

  it('fails only the item whose result was rejected', async () => {
    const { process } = recorder();
    const queue = new BatchQueue(process, options);
    const settled = await Promise.allSettled([1, -1, 3].map((n) => queue.submit(n)));
    expect(settled.map((s) => s.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
  });

  it('fails items that waited longer than timeoutMs with TIMEOUT', async () => {
    const { process } = recorder(30);
    const queue = new BatchQueue(process, { ...options, maxBatch: 1, timeoutMs: 10 });
    const [first, second] = await Promise.allSettled([queue.submit(1), queue.submit(2)]);
    expect(first).toEqual({ status: 'fulfilled', value: 2 });
    expect(second.status === 'rejected' && (second.reason as ResnetServeError).code).toBe('TIMEOUT');
  });

  it('rejects every item of a batch whose processor throws', async () => {
    const queue = new BatchQueue<number, number>(async () => {
      throw new ResnetServeError('INTERNAL', 'boom');
    }, options);
    await expect(Promise.all([queue.submit(1), queue.submit(2)])).rejects.toMatchObject({ code: 'INTERNAL' });
  });

  it('close() finishes queued work, then refuses new items with NOT_READY', async () => {
    const { process } = recorder(10);
    const queue = new BatchQueue(process, options);
    const pending = [1, 2, 3].map((n) => queue.submit(n));
    await queue.close();
    await expect(Promise.all(pending)).resolves.toEqual([2, 4, 6]);
    await expect(queue.submit(9)).rejects.toMatchObject({ code: 'NOT_READY' });
  });

  it('counts the timeout from the given start, not from submit', async () => {
    const { process } = recorder();
    const queue = new BatchQueue(process, { ...options, timeoutMs: 50 });
    await expect(queue.submit(1, performance.now() - 100)).rejects.toMatchObject({ code: 'TIMEOUT' });
  });
});
