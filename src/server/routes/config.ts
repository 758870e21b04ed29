import type { FastifyPluginAsync } from 'fastify';
import type { ModelContract } from '../../model/contract.js';
import { officialWeightsOf } from '../../weights/official-weights.js';
import type { ModelRegistry } from '../model-registry.js';

/** The limits a client should check before uploading (the page does). */
export interface PublicLimits {
  maxUploadBytes: number;
  maxPixels: number;
  topK: number;
  maxTopK: number;
}

/** What a client is told of the model, from its contract: which it is, and whether it can say where it looked. */
export interface PublicModel {
  id: string;
  precision: string;
  /** TorchVision's builder name; absent for an .onnx made elsewhere. */
  architecture?: string;
  classes: number;
  /** Side of the model's square input (its recipe's crop size). */
  inputSize: number;
  /** Whether `explain=true` gives maps; when not, why (EXPLAIN_UNAVAILABLE's reason). */
  explain: { available: true } | { available: false; reason: string };
}

/** A served model as the page's picker lists it. */
export interface ServedModelSummary {
  /** The name requests use (`/predict?model=`). */
  name: string;
  /** The ONNX file's size, when known. */
  bytes?: number;
  /** ImageNet-1k top-1 (%) on TorchVision's card, when the weights are TorchVision's own (by their hash). */
  top1?: number;
  /** Absent until known (an .onnx given no contract, before it first loaded). */
  model?: PublicModel;
}

export interface PublicConfig extends PublicLimits {
  /** The default model; absent until it is known (an app told no model, before its classifier loaded). */
  model?: PublicModel;
  /** The default model's name. */
  defaultModel: string;
  /** Every model served, in the repository's order. */
  models: ServedModelSummary[];
}

/** The model as /config (and GET /on-device) publishes it. */
export function publicModel(model: ModelContract): PublicModel {
  return {
    id: model.id,
    precision: model.precision,
    ...(model.architecture === undefined ? {} : { architecture: model.architecture }),
    classes: model.classes,
    inputSize: model.recipe.cropSize,
    explain: model.unexplainable === undefined ? { available: true } : { available: false, reason: model.unexplainable },
  };
}

export const publicModelSchema = {
  type: 'object',
  required: ['id', 'precision', 'classes', 'inputSize', 'explain'],
  properties: {
    id: { type: 'string', description: "The model's id, as every answer names it (`resnet50-11ad3fa6`)." },
    precision: { type: 'string', enum: ['fp32', 'int8'] },
    architecture: { type: 'string' },
    classes: { type: 'integer' },
    inputSize: { type: 'integer' },
    explain: {
      type: 'object',
      required: ['available'],
      properties: { available: { type: 'boolean' }, reason: { type: 'string' } },
    },
  },
} as const;

/**
 * GET /config: the server's upload limits, so the page can refuse an oversized file before sending it, and the models
 * it serves (so the page names them, offers a picker when there are several, and knows whether "Show where it looked"
 * applies).
 */
export const configRoute: FastifyPluginAsync<{ models: ModelRegistry; limits: PublicLimits }> = async (app, { models, limits }) => {
  app.get(
    '/config',
    {
      schema: {
        summary: 'Upload limits, top-k bounds and the model served',
        response: {
          200: {
            type: 'object',
            required: ['maxUploadBytes', 'maxPixels', 'topK', 'maxTopK', 'defaultModel', 'models'],
            properties: {
              maxUploadBytes: { type: 'integer' },
              maxPixels: { type: 'integer' },
              topK: { type: 'integer' },
              maxTopK: { type: 'integer' },
              model: publicModelSchema,
              defaultModel: { type: 'string' },
              models: {
                type: 'array',
                items: {
                  type: 'object',
                  required: ['name'],
                  properties: { name: { type: 'string' }, bytes: { type: 'integer' }, top1: { type: 'number' }, model: publicModelSchema },
                },
              },
            },
          },
        },
      },
    },
    async (): Promise<PublicConfig> => {
      const served = models.models.map((registered): ServedModelSummary => {
        const contract = models.contract(registered.name);
        const top1 = contract === undefined ? undefined : officialWeightsOf(contract.architecture, contract.source.sha256)?.meta.acc1;
        return {
          name: registered.name,
          ...(registered.bytes === undefined ? {} : { bytes: registered.bytes }),
          ...(top1 === undefined ? {} : { top1 }),
          ...(contract === undefined ? {} : { model: publicModel(contract) }),
        };
      });
      const config = { ...limits, defaultModel: models.defaultName, models: served };
      const model = models.contract();
      if (model === undefined) return config;
      return { ...config, maxTopK: Math.min(limits.maxTopK, model.classes), model: publicModel(model) };
    },
  );
};
