/**
 * A counting semaphore with a FIFO of waiters: bounds how many images are being decoded, or held as decoded
 * tensors, at once, so memory under load is a fixed number of slots rather than a function of traffic.
 */
export class Semaphore {
  #free: number;
  readonly #waiters: (() => void)[] = [];

  constructor(slots: number) {
    this.#free = slots;
  }

  /** Resolves once a slot is free; the caller must `release()` it exactly once. */
  acquire(): Promise<void> {
    if (this.#free > 0) {
      this.#free--;
      return Promise.resolve();
    }
    return new Promise((resolve) => this.#waiters.push(resolve));
  }

  release(): void {
    const next = this.#waiters.shift();
    if (next === undefined) this.#free++;
    else next();
  }

  /** Runs `task` inside a slot. */
  async use<T>(task: () => Promise<T>): Promise<T> {
    await this.acquire();
    try {
      return await task();
    } finally {
      this.release();
    }
  }
}

/** Fixed tensors handed out under a semaphore: the only input-sized buffers the classifier ever allocates. */
export class TensorPool {
  readonly #slots: Semaphore;
  readonly #free: Float32Array[];

  constructor(count: number, elements: number) {
    this.#slots = new Semaphore(count);
    this.#free = Array.from({ length: count }, () => new Float32Array(elements));
  }

  async acquire(): Promise<Float32Array> {
    await this.#slots.acquire();
    const tensor = this.#free.pop();
    if (tensor === undefined) throw new Error('unreachable: a pool slot was granted with no free tensor');
    return tensor;
  }

  release(tensor: Float32Array): void {
    this.#free.push(tensor);
    this.#slots.release();
  }
}
