import type { Classifier, ClassifierObserver } from '../classifier-types.js';
import { ResnetServeError } from '../errors.js';

/**
 * Produces the classifier once the model is loaded and warmed up. The server hands it the observer
 * that feeds /metrics; a loader that does not want metrics may ignore the argument.
 */
export type ClassifierLoader = (observer: ClassifierObserver) => Promise<Classifier>;

export type SlotState = 'idle' | 'loading' | 'ready' | 'failed' | 'closing' | 'closed';

/**
 * Owns the classifier for one app: starts the loader, answers "ready?" for /readyz, hands the
 * classifier to routes, and closes it exactly once (also when shutdown begins while it is loading).
 */
export class ClassifierSlot {
  #state: SlotState = 'idle';
  #classifier: Classifier | undefined;
  #loading: Promise<Classifier> | undefined;
  readonly #loader: ClassifierLoader;
  readonly #observer: ClassifierObserver;

  constructor(loader: ClassifierLoader, observer: ClassifierObserver) {
    this.#loader = loader;
    this.#observer = observer;
  }

  get state(): SlotState {
    return this.#state;
  }

  /**
   * Starts loading (idempotent). The returned promise settles with the loader; it is already handled,
   * so callers that ignore it cause no unhandled rejection.
   */
  load(): Promise<Classifier> {
    if (this.#loading !== undefined) return this.#loading;
    this.#state = 'loading';
    const loading = Promise.resolve()
      .then(() => this.#loader(this.#observer))
      .then(
        async (classifier) => {
          if (this.#state !== 'loading') {
            // Shutdown began while the model was loading: nobody will ever use this session.
            await classifier.close();
            throw new ResnetServeError('NOT_READY', 'The server shut down before the model finished loading.');
          }
          this.#classifier = classifier;
          this.#state = 'ready';
          return classifier;
        },
        (error: unknown) => {
          if (this.#state === 'loading') this.#state = 'failed';
          throw error;
        },
      );
    loading.catch(() => undefined);
    this.#loading = loading;
    return loading;
  }

  /**
   * The loaded classifier, for a request that is about to use it.
   * @throws ResnetServeError NOT_READY while loading, after a failed load, or once shutdown began.
   */
  current(): Classifier {
    if (this.#state === 'ready' && this.#classifier !== undefined) return this.#classifier;
    throw new ResnetServeError('NOT_READY', this.#notReadyReason());
  }

  /** Marks the slot not-ready so /readyz and new predictions answer 503; in-flight work continues. */
  beginShutdown(): void {
    if (this.#state === 'closed') return;
    this.#state = 'closing';
  }

  /** Begins shutdown if needed, then closes the classifier (finishing its queued work) once. */
  async close(): Promise<void> {
    if (this.#state === 'closed') return;
    this.beginShutdown();
    const classifier = this.#classifier;
    this.#classifier = undefined;
    this.#state = 'closed';
    if (classifier !== undefined) await classifier.close();
  }

  #notReadyReason(): string {
    switch (this.#state) {
      case 'idle':
      case 'loading':
        return 'The model is still loading; retry shortly.';
      case 'failed':
        return 'The model failed to load; see the server log.';
      default:
        return 'The server is shutting down.';
    }
  }
}
