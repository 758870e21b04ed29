import { Semaphore } from './semaphore.js';

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
