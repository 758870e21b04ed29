import type { FastifyPluginAsync, FastifyRequest } from 'fastify';
import { invalidArgument, messageOf } from '../../../../errors.js';
import { errorResponses } from '../../../errors.js';
import type { OipHandler } from '../handler.js';

/** A repository request's body is a small JSON object (`{"ready": true}`, `{"parameters": {…}}`), or nothing. */
const BODY_LIMIT = 64 * 1024;

interface RepositoryBody {
  ready?: boolean;
  parameters?: Record<string, unknown>;
}

const indexEntrySchema = {
  type: 'object',
  required: ['name', 'state', 'reason'],
  properties: {
    name: { type: 'string' },
    version: { type: 'string', description: "The weights' SHA-256 prefix, once the model is known." },
    state: { type: 'string', enum: ['READY', 'LOADING', 'UNLOADING', 'UNAVAILABLE'] },
    reason: { type: 'string', description: 'Why a model is not READY: `unloaded`, `memory budget`, `not loaded yet`, a failure.' },
  },
} as const;
const modelParams = {
  type: 'object',
  required: ['model'],
  properties: { model: { type: 'string', description: "A served model's name (the index lists them)." } },
} as const;

/**
 * The body, parsed: empty means `{}`. Any other JSON than an object with a boolean `ready` and an object
 * `parameters` is refused, so a misspelt request does not silently do the default.
 * @throws ResnetServeError INVALID_ARGUMENT
 */
function readBody(body: unknown): RepositoryBody {
  const bytes = Buffer.isBuffer(body) ? body : Buffer.alloc(0);
  if (bytes.toString('utf8').trim() === '') return {};
  let parsed: unknown;
  try {
    parsed = JSON.parse(bytes.toString('utf8'));
  } catch (error) {
    throw invalidArgument('the request body', 'a JSON object', messageOf(error));
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed))
    throw invalidArgument('the request body', 'a JSON object', parsed);
  const { ready, parameters } = parsed as Record<string, unknown>;
  if (ready !== undefined && typeof ready !== 'boolean') throw invalidArgument('ready', 'a boolean', ready);
  if (parameters !== undefined && (typeof parameters !== 'object' || parameters === null || Array.isArray(parameters))) {
    throw invalidArgument('parameters', 'a JSON object', parameters);
  }
  return { ready, parameters: parameters as Record<string, unknown> | undefined };
}

/**
 * Triton's model repository extension over REST (docs/protocol/extension_model_repository.md):
 * `POST /v2/repository/index` lists every model with its state, `…/models/{name}/load` and `/unload` answer 200 with
 * an empty body once done, and an error `{"error": …}` (with our `code`) otherwise.
 */
export const repositoryRoutes: FastifyPluginAsync<{ oip: OipHandler }> = async (app, { oip }) => {
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit: BODY_LIMIT }, (_request, body, done) => done(null, body));

  app.post(
    '/v2/repository/index',
    {
      schema: {
        summary: 'OIP model repository: index',
        description: 'Every model served, with its version, state and reason; `{"ready": true}` lists only those ready now.',
        response: { 200: { type: 'array', items: indexEntrySchema }, ...errorResponses(400) },
      },
      bodyLimit: BODY_LIMIT,
    },
    async (request) => oip.repositoryIndex(readBody(request.body).ready === true),
  );

  const control = (operation: 'load' | 'unload') => async (request: FastifyRequest<{ Params: { model: string } }>) => {
    const parameters = Object.keys(readBody(request.body).parameters ?? {});
    const { model } = request.params;
    await (operation === 'load' ? oip.loadModel(model, parameters) : oip.unloadModel(model, parameters));
    return '';
  };
  const controlRoute = (summary: string) => ({
    schema: {
      summary,
      params: modelParams,
      response: { 200: { type: 'string', description: 'Empty: done.' }, ...errorResponses(400, 401, 404, 429, 500, 503) },
    },
    bodyLimit: BODY_LIMIT,
    // They change what the server serves: the API key and the rate limit apply, as to inference (src/server/access.ts).
    config: { inference: true },
  });
  app.post(
    '/v2/repository/models/:model/load',
    controlRoute('OIP model repository: load a model (returns once it is ready)'),
    control('load'),
  );
  app.post(
    '/v2/repository/models/:model/unload',
    controlRoute('OIP model repository: unload a model (returns once it is)'),
    control('unload'),
  );
};
