import { finished } from 'node:stream/promises';
import multipart from '@fastify/multipart';
import type { FastifyPluginAsync } from 'fastify';
import { ResnetServeError } from '../../errors.js';
import type { Lang } from '../../labels/types.js';
import type { ClassifierSlot } from '../classifier-slot.js';
import { missingFile } from '../errors.js';
import type { ServerMetrics } from '../metrics.js';
import { readUpload } from '../upload.js';

export interface PredictRouteOptions {
  slot: ClassifierSlot;
  metrics: ServerMetrics;
  maxUploadBytes: number;
  topK: number;
  maxTopK: number;
}

/**
 * Room for the multipart envelope around the file: boundaries, part headers and a few small fields.
 * A Content-Length above `maxUploadBytes` plus this can only hold an oversized file.
 */
export const MULTIPART_OVERHEAD_BYTES = 64 * 1024;

const predictionSchema = {
  type: 'object',
  required: ['index', 'label', 'label_zh', 'probability'],
  properties: {
    index: { type: 'integer', minimum: 0, maximum: 999, description: 'ImageNet-1k class index.' },
    label: { type: 'string', description: 'English class name.' },
    label_zh: { type: 'string', description: 'Chinese class name.' },
    probability: { type: 'number', minimum: 0, maximum: 1 },
  },
} as const;

const predictResponseSchema = {
  type: 'object',
  required: ['predictions', 'model', 'precision', 'timings_ms'],
  properties: {
    predictions: { type: 'array', items: predictionSchema },
    model: { type: 'string', examples: ['resnet18-imagenet1k-v1'] },
    precision: { type: 'string', enum: ['fp32', 'int8'] },
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
        properties: { file: { type: 'string', format: 'binary', description: 'JPEG, PNG, WebP, GIF, TIFF or AVIF image.' } },
      },
    },
  },
} as const;

const errorRef = { $ref: 'ErrorBody#' } as const;

interface PredictQuery {
  top: number;
  lang: Lang;
}

/**
 * POST /predict: one image in a multipart part named `file` (the Flask reference's contract), top-k
 * ImageNet classes out. The part is read into memory under a hard byte limit; nothing touches the disk.
 */
export const predictRoute: FastifyPluginAsync<PredictRouteOptions> = async (app, options) => {
  const { slot, metrics, maxUploadBytes, topK, maxTopK } = options;
  await app.register(multipart, {
    limits: {
      fileSize: maxUploadBytes,
      files: 1,
      fields: 8,
      parts: 10,
      fieldNameSize: 100,
      fieldSize: 1024,
      headerPairs: 32,
    },
  });

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
          },
        },
        response: {
          200: predictResponseSchema,
          400: errorRef,
          413: errorRef,
          415: errorRef,
          422: errorRef,
          500: errorRef,
          503: errorRef,
        },
      },
      config: {
        // Documents the multipart body without asking Fastify to validate it (the body is a stream, not JSON).
        swaggerTransform: ({ schema, url }) => ({ schema: { ...schema, body: uploadBodySchema }, url }),
      },
      // Refuse before reading a byte of the body: an honest Content-Length this large can only carry a file over the limit.
      onRequest: async (request) => {
        const declared = Number(request.headers['content-length']);
        if (Number.isFinite(declared) && declared > maxUploadBytes + MULTIPART_OVERHEAD_BYTES) {
          throw tooLarge(maxUploadBytes, declared);
        }
      },
    },
    async (request) => {
      // Taken before the body is read: a request that began before shutdown finishes even if the
      // upload completes after the slot went not-ready (the classifier is closed only after draining).
      const classifier = slot.current();
      if (!request.isMultipart()) throw missingFile();
      const part = await request.file();
      if (part === undefined || part.fieldname !== 'file' || part.filename === '') {
        // Read (and drop, chunk by chunk) the rest of the part before answering: replying mid-upload
        // closes the connection under a client still sending, which then sees EPIPE instead of our 400.
        if (part !== undefined) {
          part.file.resume();
          await finished(part.file);
        }
        throw missingFile();
      }
      const bytes = await readUpload(part.file, Number(request.headers['content-length']), maxUploadBytes);
      if (bytes === undefined) throw tooLarge(maxUploadBytes);
      const result = await classifier.classify(bytes, { topK: request.query.top });
      request.classifyTimings = result.timings_ms;
      metrics.observeTimings(result.timings_ms);
      return {
        predictions: result.predictions,
        model: classifier.modelName,
        precision: classifier.precision,
        timings_ms: result.timings_ms,
      };
    },
  );
};

function tooLarge(limit: number, received?: number): ResnetServeError {
  const mib = (limit / (1024 * 1024)).toFixed(limit % (1024 * 1024) === 0 ? 0 : 1);
  return new ResnetServeError('FILE_TOO_LARGE', `The upload is larger than the ${mib} MiB limit.`, {
    details: { limitBytes: limit, ...(received === undefined ? {} : { receivedBytes: received }) },
  });
}
