import { ResnetServeError } from '../errors.js';

export interface BatchQueueOptions {
  /** Most items handed to one `process` call. */
  maxBatch: number;
  /** How long a lone item waits for company before its batch starts, in ms. */
  batchWaitMs: number;
  /** An item that waited longer than this when its batch starts is failed with TIMEOUT, in ms. */
  timeoutMs: number;
}

/** Processes one batch; returns one settled result per item, in order. */
export type BatchProcessor<T, R> = (items: readonly T[]) => Promise<PromiseSettledResult<R>[]>;

interface Job<T, R> {
  item: T;
  enqueuedAt: number;
  resolve(value: R): void;
  reject(reason: unknown): void;
}

/**
 * A FIFO in front of one worker: items that arrive together ride in one batch, and one batch runs at a
 * time (the session already uses every core). Its length is bounded by its caller, which admits requests
 * before they are even decoded (classifier.ts, QUEUE_FULL), so this queue holds at most that many.
 */
export class BatchQueue<T, R> {
  readonly #process: BatchProcessor<T, R>;
  readonly #options: BatchQueueOptions;
  readonly #waiting: Job<T, R>[] = [];
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<void> | undefined;
  #closed = false;

  constructor(process: BatchProcessor<T, R>, options: BatchQueueOptions) {
    this.#process = process;
    this.#options = options;
  }

  /**
   * @param since - when the item's wait began (`performance.now()`), for the timeout; default now.
   * @throws ResnetServeError NOT_READY after close(), TIMEOUT when the item waited longer than `timeoutMs`.
   */
  submit(item: T, since: number = performance.now()): Promise<R> {
    if (this.#closed) return Promise.reject(new ResnetServeError('NOT_READY', 'The classifier is shutting down.'));
    return new Promise<R>((resolve, reject) => {
      this.#waiting.push({ item, enqueuedAt: since, resolve, reject });
      this.#schedule();
    });
  }

  /** Refuses new items, lets every queued item finish, then resolves. */
  async close(): Promise<void> {
    this.#closed = true;
    if (this.#timer !== undefined) {
      clearTimeout(this.#timer);
      this.#timer = undefined;
    }
    while (this.#running !== undefined || this.#waiting.length > 0) {
      if (this.#running === undefined) this.#start();
      await this.#running;
    }
  }

  #schedule(): void {
    if (this.#running !== undefined || this.#timer !== undefined) return;
    if (this.#waiting.length >= this.#options.maxBatch || this.#options.batchWaitMs <= 0) {
      this.#start();
      return;
    }
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#start();
    }, this.#options.batchWaitMs);
  }

  #start(): void {
    if (this.#running !== undefined) return;
    this.#running = this.#runBatches().finally(() => {
      this.#running = undefined;
    });
  }

  /** Runs batches back to back while work is waiting: items that queued during a run already waited. */
  async #runBatches(): Promise<void> {
    while (this.#waiting.length > 0) {
      const jobs = this.#takeBatch();
      if (jobs.length === 0) continue;
      try {
        const results = await this.#process(jobs.map((job) => job.item));
        jobs.forEach((job, i) => {
          const result = results[i];
          if (result === undefined) job.reject(new ResnetServeError('INTERNAL', 'The batch returned fewer results than it was given.'));
          else if (result.status === 'fulfilled') job.resolve(result.value);
          else job.reject(result.reason);
        });
      } catch (error) {
        for (const job of jobs) job.reject(error);
      }
    }
  }

  #takeBatch(): Job<T, R>[] {
    const now = performance.now();
    const batch: Job<T, R>[] = [];
    while (batch.length < this.#options.maxBatch) {
      const job = this.#waiting.shift();
      if (job === undefined) break;
      if (now - job.enqueuedAt > this.#options.timeoutMs) {
        job.reject(new ResnetServeError('TIMEOUT', { timeoutMs: this.#options.timeoutMs }));
        continue;
      }
      batch.push(job);
    }
    return batch;
  }
}
