import { notReady, ResnetServeError } from '../../../errors.js';
import { IMAGENET_LABELS } from '../../../labels/label-set.js';
import { TORCHVISION_WEIGHTS } from '../../../weights/torchvision-weights.js';
import type { Readiness } from '../../classifier-slot.js';
import type { ServerMetrics } from '../../metrics.js';
import type { IndexEntry, ModelRegistry } from '../../model-registry.js';
import { type TimingsRecord, withClassifier } from '../../take-classifier.js';
import { type InferLimits, type InferRequest, planInference, wantsCam } from './infer-request.js';
import { type InferAnswer, inferOutputs } from './infer-response.js';
import { EXTENSIONS, type ModelMetadata, modelMetadata } from './model-metadata.js';
import { inferAll } from './run-inference.js';

// The protocol's data model, which the bindings translate their wire formats to and from.
export type { InferRequest, Parameters, ParameterValue, WireInput, WireOutput } from './infer-request.js';
export { type InferAnswer, type OutputTensor, tensorBytes } from './infer-response.js';
export type { ModelMetadata } from './model-metadata.js';

/** What both bindings serve: the same models, metrics and limits. */
export interface OipOptions {
  models: ModelRegistry;
  metrics: ServerMetrics;
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
 * The Open Inference Protocol's operations (the RPCs of inference_grpc.md, and the model repository extension's)
 * over the served models. The REST routes and the gRPC service are bindings of it: they translate their wire formats
 * and statuses, and nothing else.
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
  /** RepositoryIndex: every model, its version, state and reason; with `ready`, only the models ready now. */
  repositoryIndex(ready: boolean): IndexEntry[];
  /**
   * RepositoryModelLoad: resolves once the model is ready (at once when it is). `parameters` are the request's
   * parameter names: Triton's `config` and `file:` overrides are refused, the model being its repository file.
   * @throws MODEL_NOT_FOUND, INVALID_ARGUMENT, NOT_READY, the load's error
   */
  loadModel(name: string, parameters: readonly string[]): Promise<void>;
  /**
   * RepositoryModelUnload: resolves once it is unloaded (its requests in progress finished). `unload_dependents` is
   * accepted (no model depends on another here); other parameters are refused.
   * @throws MODEL_NOT_FOUND, INVALID_ARGUMENT
   */
  unloadModel(name: string, parameters: readonly string[]): Promise<void>;
}

/** EfficientNet-B7's 600 px: the largest input of TorchVision's recipes. */
const LARGEST_TORCHVISION_INPUT = Math.max(...Object.values(TORCHVISION_WEIGHTS).map((weights) => weights.recipe.cropSize));

/**
 * The largest input side a request may carry, for the bounds checked on the bytes before the model is known (the
 * JSON's structure, gRPC's wire scan): that of the largest served model's contract — or, when a model's contract is
 * not known before it loads, of any TorchVision recipe (EfficientNet-B7's 600 px). The model's own size is checked
 * once the request is decoded (`planInference`), within that bound. Bounds of 600 px for 224 px models would let
 * 7× larger JSON arrays through to JSON.parse.
 */
export function largestInputSize(models: ModelRegistry): number {
  const sizes = models.models.map((model) => model.model?.recipe.cropSize ?? LARGEST_TORCHVISION_INPUT);
  return Math.max(...sizes);
}

export function createOipHandler(options: OipOptions): OipHandler {
  const { models, metrics, serverVersion } = options;
  const check = (model: ModelRef): void => models.check(model.name, model.version);
  return {
    serverMetadata: () => ({ name: 'resnet-serve', version: serverVersion, extensions: [...EXTENSIONS] }),
    serverReady: () => models.readiness(),
    modelReady(model) {
      check(model);
      return models.modelReadiness(model.name);
    },
    modelMetadata(model) {
      check(model);
      const contract = models.contract(model.name);
      if (contract === undefined) throw notReady('The model is still loading; its metadata follows from it.');
      return modelMetadata(model.name, contract);
    },
    async infer(model, read, record) {
      check(model);
      return withClassifier(models, model.name, metrics, record, async (classifier) => {
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
        return { model_name: model.name, model_version: contract.version, id: request.id, outputs };
      });
    },
    repositoryIndex: (ready) => models.index(ready),
    async loadModel(name, parameters) {
      models.check(name);
      refuseParameters(parameters, [], 'load');
      return models.load(name);
    },
    async unloadModel(name, parameters) {
      models.check(name);
      refuseParameters(parameters, ['unload_dependents'], 'unload');
      return models.unload(name);
    },
  };
}

/** Refuses a repository request's parameters other than `accepted`, naming the first. */
function refuseParameters(parameters: readonly string[], accepted: readonly string[], operation: string): void {
  const unknown = parameters.find((name) => !accepted.includes(name));
  if (unknown === undefined) return;
  throw new ResnetServeError(
    'INVALID_ARGUMENT',
    `The ${operation} parameter "${unknown}" is not supported: a model is its file in the repository folder${accepted.length > 0 ? ` (accepted: ${accepted.join(', ')})` : ''}.`,
    { details: { parameter: unknown } },
  );
}
