/**
 * A counting semaphore with a FIFO of waiters: bounds how many images are being decoded, or held as decoded
 * tensors, at once, so memory under load is a fixed number of slots rather than a function of traffic.
 * A task may take several slots (up to all of them), e.g. an image large enough to decode alone; waiters are
 * served strictly in order, so a heavy one is never overtaken for ever by light ones.
 */
export class Semaphore {
  readonly #slots: number;
  #free: number;
  readonly #waiters: { weight: number; resolve: () => void }[] = [];

  constructor(slots: number) {
    this.#slots = slots;
    this.#free = slots;
  }

  /** Resolves once `weight` slots (at most all of them) are free; the caller must `release(weight)` exactly once. */
  acquire(weight = 1): Promise<void> {
    const needed = Math.min(weight, this.#slots);
    if (this.#waiters.length === 0 && this.#free >= needed) {
      this.#free -= needed;
      return Promise.resolve();
    }
    return new Promise((resolve) => this.#waiters.push({ weight: needed, resolve }));
  }

  release(weight = 1): void {
    this.#free += Math.min(weight, this.#slots);
    for (let next = this.#waiters[0]; next !== undefined && this.#free >= next.weight; next = this.#waiters[0]) {
      this.#waiters.shift();
      this.#free -= next.weight;
      next.resolve();
    }
  }

  /** Runs `task` inside `weight` slots. */
  async use<T>(task: () => Promise<T>, weight = 1): Promise<T> {
    await this.acquire(weight);
    try {
      return await task();
    } finally {
      this.release(weight);
    }
  }
}
