import type { Classifier, Timings } from '../classifier/index.js';
import type { ServerMetrics } from './metrics.js';
import type { ModelRegistry } from './model-registry.js';

/** Where a request's log line finds its timings and model; request-log.ts gives every Fastify request these fields. */
export interface TimingsRecord {
  classifyTimings: Timings | null;
  /** The id of the model that answered (`resnet50-11ad3fa6`). */
  modelId: string | null;
}

/** The classifier as a request uses it: every image it classifies or infers is recorded. */
export type RequestClassifier = Pick<Classifier, 'model' | 'classify' | 'infer'>;

/**
 * Runs `use` with the classifier of the model `name` (default: the default model), in the one place where every
 * route and protocol records what it ran: each image's timings go to the /metrics histograms as it finishes, and onto
 * the request's log line (a request of several images logs its slowest), with the id of the model that answered.
 *
 * Call it when the request begins, before its body is read, and read the body inside `use`: the model then stays
 * loaded for the whole request (an unload waits for it), and a request that began before shutdown finishes even if
 * its upload completes after the server went not-ready (the classifiers close only after draining).
 *
 * @param record - the request whose log line carries the timings; gRPC calls have no log line.
 * @throws ResnetServeError MODEL_NOT_FOUND; NOT_READY while the model loads at start, after a failed load, once
 *   unloaded, or once shutdown began; what `use` throws.
 */
export function withClassifier<T>(
  models: ModelRegistry,
  name: string | undefined,
  metrics: ServerMetrics,
  record: TimingsRecord | undefined,
  use: (classifier: RequestClassifier) => Promise<T>,
): Promise<T> {
  return models.use(name, (classifier) => {
    if (record !== undefined) record.modelId = classifier.model.id;
    const observe = (timings: Timings): void => {
      metrics.observeTimings(timings);
      if (record !== undefined && (record.classifyTimings === null || timings.total > record.classifyTimings.total)) {
        record.classifyTimings = timings;
      }
    };
    return use({
      model: classifier.model,
      async classify(bytes, options) {
        const result = await classifier.classify(bytes, options);
        observe(result.timings_ms);
        return result;
      },
      async infer(input, options) {
        const result = await classifier.infer(input, options);
        observe(result.timings_ms);
        return result;
      },
    });
  });
}
