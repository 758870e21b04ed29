import { describe, expect, it } from 'vitest';
import { Semaphore } from '../../src/engine/semaphore.js';

/** Lets every already-resolved promise callback run. */
const settle = () => new Promise((resolve) => setImmediate(resolve));

describe('Semaphore', () => {
  it('admits as many tasks as it has slots and the next ones in arrival order', async () => {
    const semaphore = new Semaphore(2);
    const order: string[] = [];
    await semaphore.acquire();
    await semaphore.acquire();
    void semaphore.acquire().then(() => order.push('c'));
    void semaphore.acquire().then(() => order.push('d'));
    await settle();
    expect(order).toEqual([]);
    semaphore.release();
    await settle();
    expect(order).toEqual(['c']);
    semaphore.release();
    await settle();
    expect(order).toEqual(['c', 'd']);
  });

  it('lets a heavy task wait for every slot, and light ones behind it wait their turn', async () => {
    const semaphore = new Semaphore(2);
    const order: string[] = [];
    await semaphore.acquire();
    // More than the slots there are counts as all of them.
    void semaphore.acquire(Number.POSITIVE_INFINITY).then(() => order.push('heavy'));
    void semaphore.acquire().then(() => order.push('light'));
    await settle();
    // One slot is free, but the heavy task is first in line and needs both: nothing overtakes it.
    expect(order).toEqual([]);
    semaphore.release();
    await settle();
    expect(order).toEqual(['heavy']);
    semaphore.release(Number.POSITIVE_INFINITY);
    await settle();
    expect(order).toEqual(['heavy', 'light']);
  });

  it('use() releases its slots when the task fails', async () => {
    const semaphore = new Semaphore(1);
    await expect(semaphore.use(() => Promise.reject(new Error('boom')), 3)).rejects.toThrow('boom');
    await expect(semaphore.use(() => Promise.resolve('ran'))).resolves.toBe('ran');
  });
});
