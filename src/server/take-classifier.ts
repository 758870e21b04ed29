import type { Classifier, Timings } from '../classifier/index.js';
import type { ClassifierSlot } from './classifier-slot.js';
import type { ServerMetrics } from './metrics.js';

/** Where a request's log line finds its timings and model; request-log.ts gives every Fastify request these fields. */
export interface TimingsRecord {
  classifyTimings: Timings | null;
  /** The id of the model that answered (`resnet50-11ad3fa6`). */
  modelId: string | null;
}

/** The classifier as a request uses it: every image it classifies or infers is recorded. */
export type RequestClassifier = Pick<Classifier, 'model' | 'classify' | 'infer'>;

/**
 * The slot's classifier for one request, in the one place where every route and protocol records what it ran:
 * each image's timings go to the /metrics histograms as it finishes, and onto the request's log line (a
 * request of several images logs its slowest), with the id of the model that answered.
 *
 * Take it when the request begins, before its body is read: a request that began before shutdown then finishes
 * even if its upload completes after the slot went not-ready (the classifier is closed only after draining).
 *
 * @param record - the request whose log line carries the timings; gRPC calls have no log line.
 * @throws ResnetServeError NOT_READY while the model loads, after a failed load, or once shutdown began.
 */
export function takeClassifier(slot: ClassifierSlot, metrics: ServerMetrics, record?: TimingsRecord): RequestClassifier {
  const classifier = slot.current();
  if (record !== undefined) record.modelId = classifier.model.id;
  const observe = (timings: Timings): void => {
    metrics.observeTimings(timings);
    if (record !== undefined && (record.classifyTimings === null || timings.total > record.classifyTimings.total)) {
      record.classifyTimings = timings;
    }
  };
  return {
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
  };
}
