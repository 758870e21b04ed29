import type { FastifyPluginAsync } from 'fastify';
import type { ModelContract } from '../../model/contract.js';
import type { ClassifierSlot } from '../classifier-slot.js';

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

export interface PublicConfig extends PublicLimits {
  /** Absent until the model is known (an app told no model, before its classifier loaded). */
  model?: PublicModel;
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
 * GET /config: the server's upload limits, so the page can refuse an oversized file before sending it, and the model
 * it serves (so the page names it and knows whether "Show where it looked" applies).
 */
export const configRoute: FastifyPluginAsync<{ slot: ClassifierSlot; limits: PublicLimits }> = async (app, { slot, limits }) => {
  app.get(
    '/config',
    {
      schema: {
        summary: 'Upload limits, top-k bounds and the model served',
        response: {
          200: {
            type: 'object',
            required: ['maxUploadBytes', 'maxPixels', 'topK', 'maxTopK'],
            properties: {
              maxUploadBytes: { type: 'integer' },
              maxPixels: { type: 'integer' },
              topK: { type: 'integer' },
              maxTopK: { type: 'integer' },
              model: publicModelSchema,
            },
          },
        },
      },
    },
    async (): Promise<PublicConfig> => {
      const { model } = slot;
      if (model === undefined) return limits;
      return { ...limits, maxTopK: Math.min(limits.maxTopK, model.classes), model: publicModel(model) };
    },
  );
};
