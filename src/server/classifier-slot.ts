import type { Classifier, ClassifierLimits, ClassifierObserver } from '../classifier/index.js';
import { notReady, ResnetServeError } from '../errors.js';
import type { ModelContract } from '../model/contract.js';

/** What the app hands its loader: the observer that feeds /metrics, and the limits the app publishes at /config. */
export interface LoaderContext {
  readonly observer: ClassifierObserver;
  /**
   * The app's pixel limit, the value the page is told: the classifier must enforce this one (pass it to
   * `createClassifier`); the slot refuses a classifier whose `limits.maxPixels` differs.
   */
  readonly maxPixels: number;
  /**
   * The model the app publishes (OIP metadata, /config, the page) before it is loaded, when the app was told: the
   * slot refuses a classifier of another model (another `model.id`).
   */
  readonly model?: ModelContract;
}

/** Produces the classifier once the model is loaded and warmed up; a loader may ignore the observer. */
export type ClassifierLoader = (context: LoaderContext) => Promise<Classifier>;

export type Readiness = { readonly ready: true } | { readonly ready: false; readonly reason: ResnetServeError };

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
  readonly #context: LoaderContext;

  constructor(loader: ClassifierLoader, context: LoaderContext) {
    this.#loader = loader;
    this.#context = context;
  }

  get state(): SlotState {
    return this.#state;
  }

  /** The loaded classifier's limits; `undefined` until it is ready and after it closed. */
  get limits(): ClassifierLimits | undefined {
    return this.#classifier?.limits;
  }

  /** The model served: the one the app was told of, else the loaded classifier's; `undefined` until one is known. */
  get model(): ModelContract | undefined {
    return this.#context.model ?? this.#classifier?.model;
  }

  /**
   * Starts loading (idempotent). The returned promise settles with the loader; it is already handled,
   * so callers that ignore it cause no unhandled rejection.
   */
  load(): Promise<Classifier> {
    if (this.#loading !== undefined) return this.#loading;
    this.#state = 'loading';
    const loading = Promise.resolve()
      .then(() => this.#loader(this.#context))
      .then(
        async (classifier) => {
          if (this.#state !== 'loading') {
            // Shutdown began while the model was loading: nobody will ever use this session.
            await classifier.close();
            throw notReady('The server shut down before the model finished loading.');
          }
          const { maxPixels, model } = this.#context;
          if (model !== undefined && classifier.model.id !== model.id) {
            // The protocols would describe one model and the routes answer with another.
            this.#state = 'failed';
            await classifier.close();
            throw new ResnetServeError(
              'INVALID_ARGUMENT',
              `The classifier runs ${classifier.model.id} but the app publishes ${model.id}: load the model the app was given.`,
              { details: { parameter: 'model', classifier: classifier.model.id, app: model.id } },
            );
          }
          if (classifier.limits.maxPixels !== maxPixels) {
            // /config would promise one limit and /predict enforce another.
            this.#state = 'failed';
            await classifier.close();
            throw new ResnetServeError(
              'INVALID_ARGUMENT',
              `The classifier refuses images over ${classifier.limits.maxPixels} pixels but the app publishes ${maxPixels}: create it with the loader's maxPixels.`,
              { details: { parameter: 'maxPixels', classifier: classifier.limits.maxPixels, app: maxPixels } },
            );
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
    throw notReady(this.#notReadyReason());
  }

  /** Whether {@link current} would hand out a classifier now, and if not, the NOT_READY it would throw. */
  readiness(): Readiness {
    return this.#state === 'ready' && this.#classifier !== undefined
      ? { ready: true }
      : { ready: false, reason: notReady(this.#notReadyReason()) };
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
    // A session still loading closes itself when it sees the slot closed (see load); close does not wait for it,
    // since a load may never end. A process about to exit waits with settled().
    if (classifier !== undefined) await classifier.close();
  }

  /**
   * Resolves once no load is in progress (a load that finishes after close has closed its classifier by then).
   * The process must not exit before: ONNX Runtime aborts with "terminate called after throwing Napi::Error" on
   * an exit while it creates a session.
   */
  async settled(): Promise<void> {
    await this.#loading?.catch(() => undefined);
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
