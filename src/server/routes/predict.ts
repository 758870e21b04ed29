import { finished } from 'node:stream/promises';
import type { FastifyPluginAsync } from 'fastify';
import type { Explanation } from '../../classifier/index.js';
import { CAM_CELLS } from '../../explain/cam.js';
import { DECODABLE_LIST } from '../../image/formats.js';
import type { CropBox } from '../../image/recipe-geometry.js';
import type { Lang } from '../../labels/types.js';
import { FEATURE_GRID } from '../../model/features.js';
import type { ClassifierSlot } from '../classifier-slot.js';
import { errorResponses, missingFile } from '../errors.js';
import type { ServerMetrics } from '../metrics.js';
import { takeClassifier } from '../take-classifier.js';
import { acceptMultipart, parsingMultipart, readFilePart } from '../upload.js';

export interface PredictRouteOptions {
  slot: ClassifierSlot;
  metrics: ServerMetrics;
  maxUploadBytes: number;
  topK: number;
  maxTopK: number;
}

const boxSchema = {
  type: 'object',
  required: ['left', 'top', 'width', 'height'],
  description:
    "The part of the image the model saw, in pixels of the image as displayed (after EXIF orientation): torchvision's " +
    'Resize(256) + CenterCrop(224) mapped back to the original. The `cam` grid covers exactly this box, each cell a ' +
    'seventh of its width and height. Edges are real numbers (rounded to 0.01 px).',
  properties: { left: { type: 'number' }, top: { type: 'number' }, width: { type: 'number' }, height: { type: 'number' } },
} as const;

const camSchema = {
  type: 'array',
  minItems: 7,
  maxItems: 7,
  items: { type: 'array', minItems: 7, maxItems: 7, items: { type: 'number', minimum: 0, maximum: 1 } },
  description:
    'Only with `explain=true`: the class activation map of this class, 7 rows (top to bottom of `crop`) of 7 values ' +
    "(left to right). Rule: CAM_c = Σ_k w_ck · A_k over the 512 channels of layer4's output A (after its final ReLU) " +
    'and the fc weights w (Zhou et al. 2016; equal to 49 × Grad-CAM on layer4 for ResNet-18), then ReLU, then ' +
    "divided by the map's maximum, so the strongest cell is 1; a map with no positive cell is all 0. Rounded to 4 decimals.",
} as const;

const predictionSchema = {
  type: 'object',
  required: ['index', 'label', 'label_zh', 'probability'],
  properties: {
    index: { type: 'integer', minimum: 0, maximum: 999, description: 'ImageNet-1k class index.' },
    label: { type: 'string', description: 'English class name.' },
    label_zh: { type: 'string', description: 'Chinese class name.' },
    probability: { type: 'number', minimum: 0, maximum: 1 },
    cam: camSchema,
    crop: { ...boxSchema, description: `Only with \`explain=true\`. ${boxSchema.description}` },
  },
} as const;

const predictResponseSchema = {
  type: 'object',
  required: ['predictions', 'model', 'precision', 'timings_ms'],
  properties: {
    predictions: { type: 'array', items: predictionSchema },
    model: { type: 'string', examples: ['resnet18-imagenet1k-v1'] },
    precision: { type: 'string', enum: ['fp32', 'int8'] },
    image: {
      type: 'object',
      required: ['width', 'height'],
      description: 'Only with `explain=true`: the image size after EXIF orientation, the space `crop` is in.',
      properties: { width: { type: 'integer' }, height: { type: 'integer' } },
    },
    timings_ms: {
      type: 'object',
      required: ['decode', 'inference', 'total'],
      properties: { decode: { type: 'number' }, inference: { type: 'number' }, total: { type: 'number' } },
    },
  },
} as const;

/** Documentation only: the body is streamed by @fastify/multipart, not validated as JSON. */
const uploadBodySchema = {
  content: {
    'multipart/form-data': {
      schema: {
        type: 'object',
        required: ['file'],
        properties: { file: { type: 'string', format: 'binary', description: `${DECODABLE_LIST} image, judged by its content.` } },
      },
    },
  },
} as const;

interface PredictQuery {
  top: number;
  lang: Lang;
  explain: boolean;
}

/**
 * POST /predict: one image in a multipart part named `file` (the Flask reference's contract), top-k
 * ImageNet classes out. The part is read into memory under a hard byte limit; nothing touches the disk.
 */
export const predictRoute: FastifyPluginAsync<PredictRouteOptions> = async (app, options) => {
  const { slot, metrics, maxUploadBytes, topK, maxTopK } = options;
  await acceptMultipart(app, maxUploadBytes);

  app.post<{ Querystring: PredictQuery }>(
    '/predict',
    {
      schema: {
        summary: 'Classify one image',
        description: 'Returns the top-k ImageNet-1k classes. Send the image as `curl -F file=@cat.jpg`.',
        consumes: ['multipart/form-data'],
        querystring: {
          type: 'object',
          properties: {
            top: { type: 'integer', minimum: 1, maximum: maxTopK, default: topK, description: 'How many classes to return.' },
            lang: {
              type: 'string',
              enum: ['en', 'zh'],
              default: 'en',
              description: 'The page’s language; `label` stays English and `label_zh` Chinese.',
            },
            explain: {
              type: 'boolean',
              default: false,
              description:
                'Also say where the model looked: a 7 × 7 `cam` and its `crop` box per class, and the `image` size. ' +
                'Costs one more model output and 512 × 49 multiply-adds per class. 501 `EXPLAIN_UNAVAILABLE` when the ' +
                'served `--model` has no `features` output.',
            },
          },
        },
        response: {
          200: predictResponseSchema,
          ...errorResponses(400, 401, 403, 408, 413, 415, 422, 429, 500, 501, 503),
        },
      },
      config: {
        // API key, rate limit and cross-origin policy apply (src/server/access.ts).
        inference: true,
        upload: { part: 'file', maxBytes: maxUploadBytes },
        // Documents the multipart body without asking Fastify to validate it (the body is a stream, not JSON).
        swaggerTransform: ({ schema, url }) => ({ schema: { ...schema, body: uploadBodySchema }, url }),
      },
    },
    async (request) => {
      const classifier = takeClassifier(slot, metrics, request);
      if (!request.isMultipart()) throw missingFile(request);
      const bytes = await parsingMultipart(async () => {
        const part = await request.file();
        if (part === undefined || part.fieldname !== 'file' || part.filename === '') {
          // Read (and drop, chunk by chunk) the rest of the part before answering: replying mid-upload
          // closes the connection under a client still sending, which then sees EPIPE instead of our 400.
          if (part !== undefined) {
            part.file.resume();
            await finished(part.file);
          }
          throw missingFile(request);
        }
        return readFilePart(request, part.file, maxUploadBytes);
      });
      const result = await classifier.classify(bytes, { topK: request.query.top, explain: request.query.explain });
      const { explanation } = result;
      return {
        predictions:
          explanation === undefined ? result.predictions : result.predictions.map((p, j) => ({ ...p, ...explained(explanation, j) })),
        model: classifier.modelName,
        precision: classifier.precision,
        ...(explanation === undefined ? {} : { image: explanation.image }),
        timings_ms: result.timings_ms,
      };
    },
  );
};

/** Prediction `j`'s map as 7 rows of 7 and the shared crop box, rounded for JSON. */
function explained(explanation: Explanation, j: number): { cam: number[][]; crop: CropBox } {
  const map = explanation.maps[j] ?? new Float32Array(CAM_CELLS);
  const cam = Array.from({ length: FEATURE_GRID }, (_, row) =>
    Array.from(map.subarray(row * FEATURE_GRID, (row + 1) * FEATURE_GRID), (v) => Math.round(v * 1e4) / 1e4),
  );
  const { left, top, width, height } = explanation.crop;
  const px = (v: number): number => Math.round(v * 100) / 100;
  return { cam, crop: { left: px(left), top: px(top), width: px(width), height: px(height) } };
}
