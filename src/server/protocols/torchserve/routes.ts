import multipart from '@fastify/multipart';
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import { ResnetServeError } from '../../../errors.js';
import type { ClassifierSlot } from '../../classifier-slot.js';
import { errorResponses } from '../../errors.js';
import type { ServerMetrics } from '../../metrics.js';
import { MULTIPART_FILE_HIGH_WATER_MARK, parsingMultipart, readUpload } from '../../upload.js';
import { checkModel, MODEL_VERSION } from '../oip/model-metadata.js';
import { TORCHSERVE_TOP_K, torchserveAnswer } from './answer.js';

export interface TorchServeOptions {
  slot: ClassifierSlot;
  metrics: ServerMetrics;
  /** The name clients use for the model (`--model-name`). */
  modelName: string;
  /** Largest image (`--max-upload`), as for /predict. */
  maxUploadBytes: number;
  /** Room for the multipart envelope around the image. */
  multipartOverheadBytes: number;
}

/**
 * The name and version TorchServe's own ResNet-18 example archives the model under
 * (`torch-model-archiver --model-name resnet-18 --version 1.0`, examples/image_classifier/resnet_18), so its
 * curl lines work unchanged.
 */
export const TORCHSERVE_EXAMPLE_MODEL = 'resnet-18';
const TORCHSERVE_EXAMPLE_VERSION = '1.0';

/** Multipart fields TorchServe's handlers read the image from (`row.get("data") or row.get("body")`, vision_handler.py). */
const IMAGE_FIELDS = new Set(['data', 'body']);

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
    model: { type: 'string', description: `The model name (\`--model-name\`) or \`${TORCHSERVE_EXAMPLE_MODEL}\`.` },
    version: { type: 'string' },
  },
} as const;

/**
 * TorchServe's inference API for image classification: `POST /predictions/{model}` with the image as the body
 * (`curl -T kitten.jpg` sends it with PUT, which TorchServe accepts too) or in a multipart field `data`, and
 * `GET /ping`. Answers in the format of TorchServe's image_classifier handler.
 */
export const torchserveRoutes: FastifyPluginAsync<TorchServeOptions> = async (app, options) => {
  const { slot, metrics, modelName, maxUploadBytes, multipartOverheadBytes } = options;
  // The image is the body whatever its type (`curl --data-binary` sends form-urlencoded): no JSON or text parsing.
  app.removeAllContentTypeParsers();
  await app.register(multipart, {
    fileHwm: MULTIPART_FILE_HIGH_WATER_MARK,
    limits: { fileSize: maxUploadBytes, files: 1, fields: 8, parts: 10, fieldNameSize: 100, fieldSize: 1024, headerPairs: 32 },
  });
  app.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit: maxUploadBytes }, (_request, body, done) => done(null, body));

  app.get(
    '/ping',
    {
      schema: {
        summary: 'TorchServe: health',
        response: { 200: { type: 'object', properties: { status: { type: 'string', enum: ['Healthy'] } } }, ...errorResponses(503) },
      },
    },
    async () => {
      slot.current();
      return { status: 'Healthy' };
    },
  );

  const predict = async (request: FastifyRequest<{ Params: PredictionParams }>, reply: FastifyReply) => {
    const { model, version } = request.params;
    checkModel(
      modelName,
      model === TORCHSERVE_EXAMPLE_MODEL ? modelName : model,
      version === TORCHSERVE_EXAMPLE_VERSION ? MODEL_VERSION : version,
    );
    const classifier = slot.current();
    const image = request.isMultipart()
      ? await parsingMultipart(() => multipartImage(request, maxUploadBytes))
      : (request.body as Buffer | undefined);
    // The route's body limit leaves room for a multipart envelope; a raw body is the image alone.
    if (image !== undefined && image.length > maxUploadBytes) throw tooLarge(maxUploadBytes);
    if (image === undefined || image.length === 0) {
      throw new ResnetServeError(
        'FILE_EMPTY',
        'The request has no image: send it as the body (curl -T kitten.jpg) or in a multipart field `data`.',
      );
    }
    const result = await classifier.classify(image, { topK: TORCHSERVE_TOP_K });
    request.classifyTimings = result.timings_ms;
    metrics.observeTimings(result.timings_ms);
    return reply.type('application/json; charset=utf-8').send(torchserveAnswer(result.predictions));
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
    bodyLimit: maxUploadBytes + multipartOverheadBytes,
    // API key, rate limit and cross-origin policy apply (src/server/access.ts).
    config: { inference: true },
  };
  for (const url of ['/predictions/:model', '/predictions/:model/:version']) {
    app.post(url, route, predict);
    app.put(url, { ...route, schema: { ...route.schema, hide: true } }, predict);
  }
};

async function multipartImage(request: FastifyRequest, maxUploadBytes: number): Promise<Buffer> {
  for await (const part of request.parts()) {
    if (part.type === 'file' && IMAGE_FIELDS.has(part.fieldname)) {
      const bytes = await readUpload(part.file, Number(request.headers['content-length']), maxUploadBytes);
      if (bytes === undefined) {
        throw new ResnetServeError('FILE_TOO_LARGE', `The image is larger than the ${maxUploadBytes} byte limit.`, {
          details: { limitBytes: maxUploadBytes },
        });
      }
      return bytes;
    }
    if (part.type === 'file') part.file.resume();
  }
  throw new ResnetServeError('FILE_MISSING', 'The multipart request has no file in a field named `data`.');
}

function tooLarge(limitBytes: number): ResnetServeError {
  return new ResnetServeError('FILE_TOO_LARGE', `The image is larger than the ${limitBytes}-byte limit (--max-upload).`, {
    details: { limitBytes },
  });
}
