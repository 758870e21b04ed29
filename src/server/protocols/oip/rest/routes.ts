import type { Readable } from 'node:stream';
import type { FastifyContextConfig, FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import type { Readiness } from '../../../classifier-slot.js';
import { errorResponses } from '../../../errors.js';
import { createOipHandler, type InferRequest, largestInputSize, type ModelRef, type OipOptions } from '../handler.js';
import { CAM_OUTPUT_NAME, IMAGE_INPUT, OUTPUT_NAMES, TENSOR_INPUT } from '../model-metadata.js';
import { repositoryRoutes } from './repository.js';
import { readInferBody, readRestRequest, splitInferBody } from './request.js';
import { encodeRestAnswer } from './response.js';

interface ModelParams {
  model: string;
  version?: string;
}

/** Room for the JSON around the tensors: names, shapes, parameters. */
const JSON_OVERHEAD_BYTES = 64 * 1024;

/** REST's answer to "not ready": the spec leaves the status to the server; ours is 503 NOT_READY, with the reason. */
function ready(readiness: Readiness): true {
  if (!readiness.ready) throw readiness.reason;
  return true;
}

const tensorMetadataSchema = {
  type: 'object',
  required: ['name', 'datatype', 'shape'],
  properties: { name: { type: 'string' }, datatype: { type: 'string' }, shape: { type: 'array', items: { type: 'integer' } } },
} as const;
/** The model's path parameters, documented with its one version. */
const modelParams = {
  type: 'object',
  required: ['model'],
  properties: {
    model: {
      type: 'string',
      description: 'A served model (`POST /v2/repository/index` lists them; one model is named by `--model-name`, else its architecture).',
    },
    version: {
      type: 'string',
      description: "The only version: the weights' SHA-256 prefix, as the model metadata's `versions` says (e.g. `f37072fd`).",
    },
  },
} as const;

const INPUTS = [IMAGE_INPUT, TENSOR_INPUT];
const OUTPUTS = [...OUTPUT_NAMES, CAM_OUTPUT_NAME];

/** Documentation only: the body is read as bytes and parsed here, JSON object first, then any binary data. */
const inferBody = {
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
                name: { type: 'string', enum: INPUTS.map((input) => input.name) },
                datatype: { type: 'string', enum: INPUTS.map((input) => input.datatype) },
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
                name: { type: 'string', enum: OUTPUTS },
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
};

/**
 * The Open Inference Protocol's REST API (kserve/open-inference-protocol inference_rest.md) with Triton's
 * binary tensor data, classification and model repository extensions, for every model served. The infer body
 * is read as bytes whatever its Content-Type (tritonclient sends none) under a limit of N uploads.
 */
export const oipRestRoutes: FastifyPluginAsync<OipOptions> = async (app, options) => {
  const oip = createOipHandler(options);
  const bodyLimit = options.maxInferImages * options.maxUploadBytes + JSON_OVERHEAD_BYTES;
  const inputSize = largestInputSize(options.models);
  // In a scope of its own: its small JSON bodies are parsed as such, not as infer bodies.
  await app.register(repositoryRoutes, { oip });
  const model = (request: FastifyRequest<{ Params: ModelParams }>): ModelRef => ({
    name: request.params.model,
    version: request.params.version,
  });
  app.removeAllContentTypeParsers();
  // The JSON's structure is checked as its bytes arrive (json-bounds.ts), so a body refused for it is refused
  // after its first few MB rather than after 80 MB and a JSON.parse that fills the heap.
  app.addContentTypeParser(
    '*',
    { bodyLimit },
    (request: FastifyRequest, payload: Readable, done: (error: Error | null, body?: Buffer) => void) => {
      readInferBody(request, payload, bodyLimit, options.maxInferImages, inputSize).then((body) => done(null, body), done);
    },
  );

  app.get(
    '/v2/health/live',
    { schema: { summary: 'OIP: server live', response: { 200: { type: 'object', properties: { live: { type: 'boolean' } } } } } },
    async () => ({ live: true }),
  );
  app.get(
    '/v2/health/ready',
    {
      schema: {
        summary: 'OIP: server ready',
        response: { 200: { type: 'object', properties: { ready: { type: 'boolean' } } }, ...errorResponses(503) },
      },
    },
    async () => ({ ready: ready(oip.serverReady()) }),
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
    async () => oip.serverMetadata(),
  );

  const metadataSchema = {
    summary: 'OIP: model metadata',
    params: modelParams,
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
  const metadata = async (request: FastifyRequest<{ Params: ModelParams }>) => oip.modelMetadata(model(request));
  app.get('/v2/models/:model', { schema: metadataSchema }, metadata);
  app.get('/v2/models/:model/versions/:version', { schema: metadataSchema }, metadata);

  const readySchema = {
    summary: 'OIP: model ready',
    params: modelParams,
    response: {
      200: { type: 'object', properties: { name: { type: 'string' }, ready: { type: 'boolean' } } },
      ...errorResponses(404, 503),
    },
  };
  const modelReady = async (request: FastifyRequest<{ Params: ModelParams }>) => ({
    name: request.params.model,
    ready: ready(oip.modelReady(model(request))),
  });
  app.get('/v2/models/:model/ready', { schema: readySchema }, modelReady);
  app.get('/v2/models/:model/versions/:version/ready', { schema: readySchema }, modelReady);

  const inferSchema = {
    summary: 'OIP: inference',
    description:
      'Open Inference Protocol inference with the binary tensor data and classification extensions. Input `image` (BYTES [N] or [N,1]: encoded images, base64 in JSON) or `input` (FP32 [N,3,S,S], S the crop size of the model metadata); outputs `logits`, `probabilities` (FP32 [N,classes]) and, when named, `cam`.',
    params: modelParams,
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
    const read = (): InferRequest => {
      const body = Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0);
      const { header, binary } = splitInferBody(body, request.headers['inference-header-content-length'] as string | undefined);
      return readRestRequest(header, binary);
    };
    const encoded = encodeRestAnswer(await oip.infer(model(request), read, request));
    if (encoded.headerLength !== undefined) reply.header('inference-header-content-length', String(encoded.headerLength));
    return reply.type(encoded.contentType).send(encoded.body);
  };
  const inferConfig: FastifyContextConfig = {
    // API key, rate limit and cross-origin policy apply (src/server/access.ts).
    inference: true,
    // Documents the body without asking Fastify to validate it (it is bytes, parsed by the handler).
    swaggerTransform: ({ schema, url }) => ({ schema: { ...schema, body: inferBody }, url }),
  };
  app.post('/v2/models/:model/infer', { schema: inferSchema, config: inferConfig, bodyLimit }, infer);
  app.post('/v2/models/:model/versions/:version/infer', { schema: inferSchema, config: inferConfig, bodyLimit }, infer);
};
