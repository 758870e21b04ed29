import { finished } from 'node:stream/promises';
import type { FastifyPluginAsync } from 'fastify';
import type { Explanation } from '../../classifier/index.js';
import { DECODABLE_LIST } from '../../image/formats.js';
import type { CropBox } from '../../image/recipe-geometry.js';
import type { Lang } from '../../labels/types.js';
import { errorResponses, missingFile } from '../errors.js';
import type { ServerMetrics } from '../metrics.js';
import type { ModelRegistry } from '../model-registry.js';
import { withClassifier } from '../take-classifier.js';
import { acceptMultipart, parsingMultipart, readFilePart } from '../upload.js';

export interface PredictRouteOptions {
  models: ModelRegistry;
  metrics: ServerMetrics;
  maxUploadBytes: number;
  topK: number;
  maxTopK: number;
}

const boxSchema = {
  type: 'object',
  required: ['left', 'top', 'width', 'height'],
  description:
    "The part of the image the model saw, in pixels of the image as displayed (after EXIF orientation): the weights' " +
    'Resize + CenterCrop (256 and 224 for ResNet-18) mapped back to the original. The `cam` grid covers exactly this ' +
    'box, each of its g cells a g-th of its width and height. Edges are real numbers (rounded to 0.01 px).',
  properties: { left: { type: 'number' }, top: { type: 'number' }, width: { type: 'number' }, height: { type: 'number' } },
} as const;

const camSchema = {
  type: 'array',
  items: { type: 'array', items: { type: 'number', minimum: 0, maximum: 1 } },
  description:
    'Only with `explain=true`: the class activation map of this class, g rows (top to bottom of `crop`) of g values ' +
    "(left to right); g is the model's features grid, 7 for ResNet-18 and RegNet at 224 px. Rule: CAM_c = Σ_k w_ck · A_k " +
    "over the channels of what the global average pool reads (A: layer4's output after its final ReLU for a ResNet) " +
    "and the fc weights w (Zhou et al. 2016; equal to g² × Grad-CAM on A), then ReLU, then divided by the map's " +
    'maximum, so the strongest cell is 1; a map with no positive cell is all 0. Rounded to 4 decimals.',
} as const;

const predictionSchema = {
  type: 'object',
  required: ['index', 'label', 'label_zh', 'probability'],
  properties: {
    index: { type: 'integer', minimum: 0, description: 'Class index (ImageNet-1k: 0..999).' },
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
    model: {
      type: 'string',
      description:
        "The model that answered: its architecture and its weights' SHA-256 prefix (an .onnx made elsewhere: its file's stem and hash).",
      examples: ['resnet18-f37072fd'],
    },
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
  model?: string;
  top: number;
  lang: Lang;
  explain: boolean;
}

/**
 * POST /predict: one image in a multipart part named `file` (the Flask reference's contract), top-k
 * ImageNet classes out. The part is read into memory under a hard byte limit; nothing touches the disk.
 */
export const predictRoute: FastifyPluginAsync<PredictRouteOptions> = async (app, options) => {
  const { models, metrics, maxUploadBytes, topK, maxTopK } = options;
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
            model: {
              type: 'string',
              description: `Which model answers, by name (the repository index lists them). Default: \`${models.defaultName}\`.`,
            },
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
                'Also say where the model looked: a g × g `cam` (7 × 7 for ResNet-18) and its `crop` box per class, and ' +
                'the `image` size. Costs one more model output and channels × g² multiply-adds per class. 501 ' +
                '`EXPLAIN_UNAVAILABLE` when the model cannot explain (its head is not average-pool → linear, as ' +
                "ConvNeXt's and MobileNetV3's, or a `--model` made elsewhere has no `features` output).",
            },
          },
        },
        response: {
          200: predictResponseSchema,
          ...errorResponses(400, 401, 403, 404, 408, 413, 415, 422, 429, 500, 501, 503),
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
    async (request) =>
      withClassifier(models, request.query.model, metrics, request, async (classifier) => {
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
          model: classifier.model.id,
          precision: classifier.model.precision,
          ...(explanation === undefined ? {} : { image: explanation.image }),
          timings_ms: result.timings_ms,
        };
      }),
  );
};

/** Prediction `j`'s map as g rows of g and the shared crop box, rounded for JSON. */
function explained(explanation: Explanation, j: number): { cam: number[][]; crop: CropBox } {
  const { grid } = explanation;
  const map = explanation.maps[j] ?? new Float32Array(grid * grid);
  const cam = Array.from({ length: grid }, (_, row) =>
    Array.from(map.subarray(row * grid, (row + 1) * grid), (v) => Math.round(v * 1e4) / 1e4),
  );
  const { left, top, width, height } = explanation.crop;
  const px = (v: number): number => Math.round(v * 100) / 100;
  return { cam, crop: { left: px(left), top: px(top), width: px(width), height: px(height) } };
}
