import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import { ResnetServeError } from '../../../errors.js';
import { errorResponses, missingFile } from '../../errors.js';
import type { ServerMetrics } from '../../metrics.js';
import type { ModelRegistry } from '../../model-registry.js';
import { withClassifier } from '../../take-classifier.js';
import { acceptMultipart, MULTIPART_OVERHEAD_BYTES, parsingMultipart, readFilePart, uploadTooLarge } from '../../upload.js';
import { TORCHSERVE_TOP_K, torchserveAnswer } from './answer.js';

export interface TorchServeOptions {
  models: ModelRegistry;
  metrics: ServerMetrics;
  /** Largest image (`--max-upload`), as for /predict. */
  maxUploadBytes: number;
}

/**
 * The name and version TorchServe's own ResNet-18 example archives the model under
 * (`torch-model-archiver --model-name resnet-18 --version 1.0`, examples/image_classifier/resnet_18), so its
 * curl lines work unchanged: they name the default model, whatever it is, and its only version. The model's own
 * version (its weights' hash prefix) is accepted as well.
 */
export const TORCHSERVE_EXAMPLE_MODEL = 'resnet-18';
const TORCHSERVE_EXAMPLE_VERSION = '1.0';

/** Multipart fields TorchServe's handlers read the image from (`row.get("data") or row.get("body")`, vision_handler.py). */
const IMAGE_FIELDS = new Set(['data', 'body']);
/** The field TorchServe's documentation sends the image in, and FILE_MISSING names. */
const IMAGE_FIELD = 'data';

interface PredictionParams {
  model: string;
  version?: string;
}

const answerSchema = {
  type: 'object',
  additionalProperties: { type: 'number' },
  description: "The top 5 classes as {label: probability}, most probable first, labels spelled as TorchServe's index_to_name.json.",
  examples: [{ tabby: 0.4096, tiger_cat: 0.3467, Egyptian_cat: 0.13, lynx: 0.0239, lens_cap: 0.0105 }],
} as const;
const paramsSchema = {
  type: 'object',
  required: ['model'],
  properties: {
    model: {
      type: 'string',
      description: `A served model's name (GET /v2/repository/index lists them), or \`${TORCHSERVE_EXAMPLE_MODEL}\` for the default model.`,
    },
    version: { type: 'string', description: "The weights' SHA-256 prefix (the OIP model metadata's version), or `1.0`." },
  },
} as const;

/**
 * TorchServe's inference API for image classification: `POST /predictions/{model}` with the image as the body
 * (`curl -T kitten.jpg` sends it with PUT, which TorchServe accepts too) or in a multipart field `data`, and
 * `GET /ping`. Answers in the format of TorchServe's image_classifier handler.
 */
export const torchserveRoutes: FastifyPluginAsync<TorchServeOptions> = async (app, options) => {
  const { models, metrics, maxUploadBytes } = options;
  // The route's body limit leaves room for a multipart envelope; a raw body is the image alone, checked below.
  const bodyLimit = maxUploadBytes + MULTIPART_OVERHEAD_BYTES;
  // The image is the body whatever its type (`curl --data-binary` sends form-urlencoded): no JSON or text parsing.
  app.removeAllContentTypeParsers();
  await acceptMultipart(app, maxUploadBytes);
  app.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit }, (_request, body, done) => done(null, body));

  app.get(
    '/ping',
    {
      schema: {
        summary: 'TorchServe: health',
        response: { 200: { type: 'object', properties: { status: { type: 'string', enum: ['Healthy'] } } }, ...errorResponses(503) },
      },
    },
    async () => {
      const readiness = models.readiness();
      if (!readiness.ready) throw readiness.reason;
      return { status: 'Healthy' };
    },
  );

  const predict = async (request: FastifyRequest<{ Params: PredictionParams }>, reply: FastifyReply) => {
    const { model, version } = request.params;
    const name = model === TORCHSERVE_EXAMPLE_MODEL && !models.names.includes(model) ? models.defaultName : model;
    models.check(name, version === TORCHSERVE_EXAMPLE_VERSION ? undefined : version);
    return withClassifier(models, name, metrics, request, async (classifier) => {
      const image = request.isMultipart()
        ? await parsingMultipart(() => multipartImage(request, maxUploadBytes))
        : (request.body as Buffer | undefined);
      if (image !== undefined && image.length > maxUploadBytes) throw uploadTooLarge(maxUploadBytes, image.length);
      if (image === undefined || image.length === 0) {
        throw new ResnetServeError('FILE_EMPTY', {
          subject: 'The image',
          hint: `send it as the body (curl -T kitten.jpg) or in a multipart part named \`${IMAGE_FIELD}\``,
        });
      }
      const result = await classifier.classify(image, { topK: TORCHSERVE_TOP_K });
      return reply.type('application/json; charset=utf-8').send(torchserveAnswer(result.predictions));
    });
  };
  const route = {
    schema: {
      summary: 'TorchServe: predictions',
      description: 'The image as the raw body, or in a multipart field `data`.',
      params: paramsSchema,
      response: {
        200: answerSchema,
        ...errorResponses(400, 404, 413, 415, 422, 500, 503),
      },
    },
    bodyLimit,
    // API key, rate limit and cross-origin policy apply (src/server/access.ts).
    config: { inference: true, upload: { part: IMAGE_FIELD, maxBytes: maxUploadBytes } },
  };
  for (const url of ['/predictions/:model', '/predictions/:model/:version']) {
    app.post(url, route, predict);
    app.put(url, { ...route, schema: { ...route.schema, hide: true } }, predict);
  }
};

async function multipartImage(request: FastifyRequest, maxUploadBytes: number): Promise<Buffer> {
  for await (const part of request.parts()) {
    if (part.type === 'file' && IMAGE_FIELDS.has(part.fieldname)) return readFilePart(request, part.file, maxUploadBytes);
    if (part.type === 'file') part.file.resume();
  }
  throw missingFile(request);
}
