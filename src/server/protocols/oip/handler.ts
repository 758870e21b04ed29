import { notReady } from '../../../errors.js';
import { IMAGENET_LABELS } from '../../../labels/label-set.js';
import type { ClassifierSlot, Readiness } from '../../classifier-slot.js';
import type { ServerMetrics } from '../../metrics.js';
import { type TimingsRecord, takeClassifier } from '../../take-classifier.js';
import { checkModel, servedModel } from '../served-model.js';
import { type InferLimits, type InferRequest, planInference, wantsCam } from './infer-request.js';
import { type InferAnswer, inferOutputs } from './infer-response.js';
import { EXTENSIONS, type ModelMetadata, modelMetadata } from './model-metadata.js';
import { inferAll } from './run-inference.js';

// The protocol's data model, which the bindings translate their wire formats to and from.
export type { InferRequest, Parameters, ParameterValue, WireInput, WireOutput } from './infer-request.js';
export { type InferAnswer, type OutputTensor, tensorBytes } from './infer-response.js';
export type { ModelMetadata } from './model-metadata.js';

/** What both bindings serve: the same slot, metrics, model name and limits. */
export interface OipOptions {
  slot: ClassifierSlot;
  metrics: ServerMetrics;
  /** The name clients use for the model (`--model-name`). */
  modelName: string;
  /** Server metadata's `version`: the package's. */
  serverVersion: string;
  /** Largest N in one request (`--max-infer-images`). */
  maxInferImages: number;
  /** Largest encoded image (`--max-upload`), as for /predict. */
  maxUploadBytes: number;
}

export interface ServerMetadata {
  name: string;
  version: string;
  extensions: string[];
}

/** The model a request names (its URL over REST, `model_name` and `model_version` over gRPC). */
export interface ModelRef {
  name: string;
  /** `undefined` or `''`: the model's only version. */
  version: string | undefined;
}

/**
 * The Open Inference Protocol's operations (the RPCs of inference_grpc.md) over one model. The REST routes
 * and the gRPC service are bindings of it: they translate their wire formats and statuses, and nothing else.
 */
export interface OipHandler {
  serverMetadata(): ServerMetadata;
  /** ServerReady: REST answers "not ready" with its reason (503), gRPC with `ready: false`. */
  serverReady(): Readiness;
  /** @throws ResnetServeError MODEL_NOT_FOUND */
  modelReady(model: ModelRef): Readiness;
  /** @throws ResnetServeError MODEL_NOT_FOUND; NOT_READY while the model it describes is not known yet. */
  modelMetadata(model: ModelRef): ModelMetadata;
  /**
   * ModelInfer: checks the model, takes the classifier, reads the request, checks it (sizes before any
   * decoding), runs every element and answers the requested outputs. `read` (the binding's decoder) runs only
   * once the model is known and ready, so a request for another model, or one that arrives while loading, is
   * refused before its body is parsed.
   *
   * @param record - the HTTP request whose log line carries the timings.
   * @throws ResnetServeError MODEL_NOT_FOUND, NOT_READY, what `read` throws, what {@link planInference} throws,
   *   and each element's failure with its index.
   */
  infer(model: ModelRef, read: () => InferRequest, record?: TimingsRecord): Promise<InferAnswer>;
}

export function createOipHandler(options: OipOptions): OipHandler {
  const { slot, metrics, modelName, serverVersion } = options;
  const served = servedModel(modelName, slot);
  const check = (model: ModelRef): void => checkModel(served, model.name, model.version);
  return {
    serverMetadata: () => ({ name: 'resnet-serve', version: serverVersion, extensions: [...EXTENSIONS] }),
    serverReady: () => slot.readiness(),
    modelReady(model) {
      check(model);
      return slot.readiness();
    },
    modelMetadata(model) {
      check(model);
      const contract = slot.model;
      if (contract === undefined) throw notReady('The model is still loading; its metadata follows from it.');
      return modelMetadata(modelName, contract);
    },
    async infer(model, read, record) {
      check(model);
      const classifier = takeClassifier(slot, metrics, record);
      const contract = classifier.model;
      const request = read();
      const limits: InferLimits = {
        maxImages: options.maxInferImages,
        maxImageBytes: options.maxUploadBytes,
        classes: contract.classes,
        inputSize: contract.recipe.cropSize,
      };
      const plan = planInference(request.inputs, request.outputs, request.binaryOutput, limits);
      const inputName = request.inputs[0]?.name ?? '';
      const inferred = await inferAll(classifier, plan.input, inputName, wantsCam(plan.outputs));
      // Class names only for ImageNet's classes (classification.ts numbers others).
      const outputs = inferOutputs(plan.outputs, inferred, IMAGENET_LABELS, contract.features?.grid ?? 0);
      return { model_name: modelName, model_version: contract.version, id: request.id, outputs };
    },
  };
}
