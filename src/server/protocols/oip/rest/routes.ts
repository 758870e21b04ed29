import type { FastifyContextConfig, FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import { IMAGENET_LABELS } from '../../../../labels/label-set.js';
import type { ClassifierSlot } from '../../../classifier-slot.js';
import { errorResponses } from '../../../errors.js';
import type { ServerMetrics } from '../../../metrics.js';
import { checkModel, MODEL_VERSION } from '../../served-model.js';
import { splitInferBody } from '../binary-data.js';
import { planInference, wantsCam } from '../infer-request.js';
import { encodeRestAnswer, inferOutputs } from '../infer-response.js';
import { EXTENSIONS, IMAGE_INPUT, modelMetadata, OUTPUTS, TENSOR_INPUT } from '../model-metadata.js';
import { inferAll } from '../run-inference.js';
import { readRestRequest } from './request.js';

export interface OipRestOptions {
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

interface ModelParams {
  model: string;
  version?: string;
}

/** Room for the JSON around the tensors: names, shapes, parameters. */
const JSON_OVERHEAD_BYTES = 64 * 1024;

const tensorMetadataSchema = {
  type: 'object',
  required: ['name', 'datatype', 'shape'],
  properties: { name: { type: 'string' }, datatype: { type: 'string' }, shape: { type: 'array', items: { type: 'integer' } } },
} as const;
const modelParamsSchema = {
  type: 'object',
  required: ['model'],
  properties: {
    model: { type: 'string', description: 'The model name (`--model-name`).' },
    version: { type: 'string', description: `The only version is "${MODEL_VERSION}".` },
  },
} as const;

/** Documentation only: the body is read as bytes and parsed here, JSON object first, then any binary data. */
const inferBodySchema = {
  content: {
    'application/json': {
      schema: {
        type: 'object',
        required: ['inputs'],
        properties: {
          id: { type: 'string' },
          parameters: {
            type: 'object',
            additionalProperties: true,
            description: '`binary_data_output`: return every output as binary data.',
          },
          inputs: {
            type: 'array',
            minItems: 1,
            maxItems: 1,
            items: {
              type: 'object',
              required: ['name', 'datatype', 'shape'],
              properties: {
                name: { type: 'string', enum: [IMAGE_INPUT.name, TENSOR_INPUT.name] },
                datatype: { type: 'string', enum: [IMAGE_INPUT.datatype, TENSOR_INPUT.datatype] },
                shape: { type: 'array', items: { type: 'integer', minimum: 0 } },
                parameters: {
                  type: 'object',
                  additionalProperties: true,
                  description: '`binary_data_size`: the tensor follows the JSON as binary data.',
                },
                data: { type: 'array', description: '`image`: base64 files; `input`: FP32 values, flat or nested.' },
              },
            },
          },
          outputs: {
            type: 'array',
            items: {
              type: 'object',
              required: ['name'],
              properties: {
                name: { type: 'string', enum: OUTPUTS.map((o) => o.name) },
                parameters: {
                  type: 'object',
                  additionalProperties: true,
                  description: '`binary_data` (boolean), `classification` (top K as BYTES).',
                },
              },
            },
          },
        },
      },
    },
    'application/octet-stream': {
      schema: {
        type: 'string',
        format: 'binary',
        description: 'The JSON object (`Inference-Header-Content-Length` bytes), then the binary tensor data.',
      },
    },
  },
} as const;

/**
 * The Open Inference Protocol's REST API (kserve/open-inference-protocol inference_rest.md) with Triton's
 * binary tensor data and classification extensions, for the one model this server serves. The infer body
 * is read as bytes whatever its Content-Type (tritonclient sends none) under a limit of N uploads.
 */
export const oipRestRoutes: FastifyPluginAsync<OipRestOptions> = async (app, options) => {
  const { slot, metrics, modelName, serverVersion, maxInferImages, maxUploadBytes } = options;
  const limits = { maxImages: maxInferImages, maxImageBytes: maxUploadBytes, classes: IMAGENET_LABELS.en.length };
  const bodyLimit = maxInferImages * maxUploadBytes + JSON_OVERHEAD_BYTES;
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit }, (_request, body, done) => done(null, body));

  app.get(
    '/v2/health/live',
    { schema: { summary: 'OIP: server live', response: { 200: { type: 'object', properties: { live: { type: 'boolean' } } } } } },
    async () => ({
      live: true,
    }),
  );
  app.get(
    '/v2/health/ready',
    {
      schema: {
        summary: 'OIP: server ready',
        response: { 200: { type: 'object', properties: { ready: { type: 'boolean' } } }, ...errorResponses(503) },
      },
    },
    async () => {
      slot.current();
      return { ready: true };
    },
  );
  app.get(
    '/v2',
    {
      schema: {
        summary: 'OIP: server metadata',
        response: {
          200: {
            type: 'object',
            properties: { name: { type: 'string' }, version: { type: 'string' }, extensions: { type: 'array', items: { type: 'string' } } },
          },
        },
      },
    },
    async () => ({ name: 'resnet-serve', version: serverVersion, extensions: [...EXTENSIONS] }),
  );

  const metadataSchema = {
    summary: 'OIP: model metadata',
    params: modelParamsSchema,
    response: {
      200: {
        type: 'object',
        properties: {
          name: { type: 'string' },
          versions: { type: 'array', items: { type: 'string' } },
          platform: { type: 'string' },
          inputs: { type: 'array', items: tensorMetadataSchema },
          outputs: { type: 'array', items: tensorMetadataSchema },
        },
      },
      ...errorResponses(404),
    },
  };
  const metadata = async (request: FastifyRequest<{ Params: ModelParams }>) => {
    checkModel(modelName, request.params.model, request.params.version);
    return modelMetadata(modelName);
  };
  app.get('/v2/models/:model', { schema: metadataSchema }, metadata);
  app.get('/v2/models/:model/versions/:version', { schema: metadataSchema }, metadata);

  const readySchema = {
    summary: 'OIP: model ready',
    params: modelParamsSchema,
    response: {
      200: { type: 'object', properties: { name: { type: 'string' }, ready: { type: 'boolean' } } },
      ...errorResponses(404, 503),
    },
  };
  const ready = async (request: FastifyRequest<{ Params: ModelParams }>) => {
    checkModel(modelName, request.params.model, request.params.version);
    slot.current();
    return { name: modelName, ready: true };
  };
  app.get('/v2/models/:model/ready', { schema: readySchema }, ready);
  app.get('/v2/models/:model/versions/:version/ready', { schema: readySchema }, ready);

  const inferSchema = {
    summary: 'OIP: inference',
    description:
      'Open Inference Protocol inference with the binary tensor data and classification extensions. Input `image` (BYTES [N] or [N,1]: encoded images, base64 in JSON) or `input` (FP32 [N,3,224,224]); outputs `logits`, `probabilities` (FP32 [N,1000]).',
    params: modelParamsSchema,
    headers: {
      type: 'object',
      properties: { 'inference-header-content-length': { type: 'string', description: 'Bytes of JSON before the binary data.' } },
    },
    response: {
      200: { description: 'The inference response JSON object, then any binary output data.', type: 'string' },
      ...errorResponses(400, 404, 413, 415, 422, 500, 501, 503),
    },
  };
  const infer = async (request: FastifyRequest<{ Params: ModelParams }>, reply: FastifyReply) => {
    checkModel(modelName, request.params.model, request.params.version);
    const classifier = slot.current();
    const body = Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0);
    const { header, binary } = splitInferBody(body, request.headers['inference-header-content-length'] as string | undefined);
    const wire = readRestRequest(header, binary);
    const plan = planInference(wire.inputs, wire.outputs, wire.binaryOutput, limits);
    const inputName = wire.inputs[0]?.name ?? '';
    const inferred = await inferAll(classifier, plan.input, inputName, wantsCam(plan.outputs));
    for (const timings of inferred.timings) metrics.observeTimings(timings);
    request.classifyTimings = inferred.timings.reduce((slowest, t) => (t.total > slowest.total ? t : slowest));
    const outputs = inferOutputs(plan.outputs, inferred.logits, inferred.count, inferred.classes, IMAGENET_LABELS, inferred.cams);
    const encoded = encodeRestAnswer({ model_name: modelName, model_version: MODEL_VERSION, id: wire.id, outputs });
    if (encoded.headerLength !== undefined) reply.header('inference-header-content-length', String(encoded.headerLength));
    return reply.type(encoded.contentType).send(encoded.body);
  };
  const inferConfig: FastifyContextConfig = {
    // API key, rate limit and cross-origin policy apply (src/server/access.ts).
    inference: true,
    // Documents the body without asking Fastify to validate it (it is bytes, parsed by the handler).
    swaggerTransform: ({ schema, url }) => ({ schema: { ...schema, body: inferBodySchema }, url }),
  };
  app.post('/v2/models/:model/infer', { schema: inferSchema, config: inferConfig, bodyLimit }, infer);
  app.post('/v2/models/:model/versions/:version/infer', { schema: inferSchema, config: inferConfig, bodyLimit }, infer);
};
