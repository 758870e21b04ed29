import { createHash } from 'node:crypto';
import { createReadStream, readFileSync } from 'node:fs';
import { stat } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type { FastifyInstance, FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import { ResnetServeError } from '../errors.js';
import { fileKey } from '../files/files.js';
import { INTERPOLATIONS, type PreprocessRecipe } from '../image/recipe.js';
import type { ModelContract } from '../model/contract.js';
import { readModelContract } from '../model/read-contract.js';
import type { ModelRegistry } from './model-registry.js';
import { type PublicModel, publicModel, publicModelSchema } from './routes/config.js';

/**
 * The server half of the page's on-device mode (issue #11): the model file and onnxruntime-web's runtime,
 * both from this server (no CDN), both cacheable for a year under URLs that change when their content does, so
 * a second visit downloads nothing. Photos never reach the server in that mode; this plugin adds no route that
 * takes an image.
 */

/** A model the page can download: the one the server itself runs under that name, so both give the same answers. */
export interface OnDeviceModel {
  /** A path to the .onnx file, or its bytes (tests build the model in memory). */
  readonly model: string | Uint8Array;
  /**
   * What it is (its id, precision, recipe, whether it explains). Default: the registered model's `model`, else read
   * from the file (`readModelContract`).
   */
  readonly contract?: ModelContract;
}

/** GET /on-device: what the page needs to start the mode. */
export interface OnDeviceManifest {
  /** Where to download the model and its size, and the model as /config describes it (with its served name). */
  model: { url: string; bytes: number; name: string } & PublicModel;
  /** Directory URL of onnxruntime-web's files, relative to the page; versioned, so immutable. */
  runtime: string;
  /** How the page turns a photo into the model's input: the server's own recipe. */
  recipe: PreprocessRecipe;
}

/**
 * onnxruntime-web's WebAssembly backend: the ES module, the Emscripten glue it imports and the SIMD build
 * (threaded; it runs with one thread where the page is not cross-origin isolated). ORT 1.30 ships no
 * non-SIMD build, so the page checks for WebAssembly SIMD first.
 */
const RUNTIME_FILES: Readonly<Record<string, string>> = {
  'ort.wasm.min.mjs': 'text/javascript; charset=utf-8',
  'ort-wasm-simd-threaded.mjs': 'text/javascript; charset=utf-8',
  'ort-wasm-simd-threaded.wasm': 'application/wasm',
};

/** A year: the URLs carry a content key or a version, so a changed file has a new URL. */
const IMMUTABLE = 'public, max-age=31536000, immutable';

/** onnxruntime-web's dist/ (its package.json is not exported, so found from the main entry, which lives there). */
function runtimeDir(): { dir: string; version: string } {
  const dir = dirname(createRequire(import.meta.url).resolve('onnxruntime-web'));
  const { version } = JSON.parse(readFileSync(join(dir, '..', 'package.json'), 'utf8')) as { version: string };
  return { dir, version };
}

/** The key in the model's URL and ETag: a content hash for bytes, the stat-based cache key for a file. */
async function modelIdentity(model: string | Uint8Array): Promise<{ key: string; bytes: number }> {
  if (typeof model !== 'string') return { key: createHash('sha256').update(model).digest('hex').slice(0, 16), bytes: model.byteLength };
  return { key: await fileKey(model), bytes: (await stat(model)).size };
}

/** 304 when the browser already has this version (`If-None-Match`); otherwise sets the caching headers. */
function notModified(request: FastifyRequest, reply: FastifyReply, etag: string): boolean {
  reply.header('etag', etag).header('cache-control', IMMUTABLE);
  if (request.headers['if-none-match'] !== etag) return false;
  void reply.code(304).send();
  return true;
}

/**
 * Cross-origin isolation (`crossOriginIsolated` in the page), which WebAssembly threads need
 * (SharedArrayBuffer): every response says so. The page loads nothing from other origins, so `require-corp`
 * costs it nothing.
 */
export function isolateCrossOrigin(app: FastifyInstance): void {
  app.addHook('onSend', async (_request, reply) => {
    reply.header('cross-origin-opener-policy', 'same-origin');
    reply.header('cross-origin-embedder-policy', 'require-corp');
  });
}

/**
 * The routes of the mode: GET /on-device[?model=NAME] (default: the default model, else the first that has a file),
 * each model's file and the runtime files. Every model registered with `onDevice` can be downloaded.
 */
export const onDeviceRoutes: FastifyPluginAsync<{ models: ModelRegistry }> = async (app, { models }) => {
  const runtime = runtimeDir();
  const manifests = new Map<string, OnDeviceManifest>();
  const files = new Map<string, { key: string; bytes: number; onDevice: OnDeviceModel }>();
  for (const registered of models.models) {
    const { onDevice } = registered;
    if (onDevice === undefined) continue;
    const { key, bytes } = await modelIdentity(onDevice.model);
    const model = onDevice.contract ?? registered.model ?? (await readModelContract(onDevice.model));
    const modelFile = `${key}.onnx`;
    files.set(modelFile, { key, bytes, onDevice });
    manifests.set(registered.name, {
      model: { url: `on-device/model/${modelFile}`, bytes, name: registered.name, ...publicModel(model) },
      runtime: `on-device/ort/${runtime.version}/`,
      recipe: model.recipe,
    });
  }
  const fallback = manifests.get(models.defaultName) ?? [...manifests.values()][0];
  const manifestOf = (name: string | undefined): OnDeviceManifest | undefined => {
    if (name === undefined || name === '') return fallback;
    models.check(name);
    const manifest = manifests.get(name);
    if (manifest === undefined) {
      throw new ResnetServeError(
        'INVALID_ARGUMENT',
        `The model "${name}" has no on-device file (it is served from an .onnx it cannot read as a contract).`,
        {
          details: { parameter: 'model' },
        },
      );
    }
    return manifest;
  };

  app.get<{ Querystring: { model?: string } }>(
    '/on-device',
    {
      schema: {
        summary: "What the page's on-device mode downloads: the model (URL, size, id, precision), the runtime directory, the recipe",
        querystring: {
          type: 'object',
          properties: { model: { type: 'string', description: 'A served model (default: the default model).' } },
        },
        response: {
          200: {
            type: 'object',
            required: ['model', 'runtime', 'recipe'],
            properties: {
              model: {
                type: 'object',
                required: ['url', 'bytes', 'name', ...publicModelSchema.required],
                properties: {
                  url: { type: 'string' },
                  bytes: { type: 'integer' },
                  name: { type: 'string' },
                  ...publicModelSchema.properties,
                },
              },
              runtime: { type: 'string' },
              recipe: {
                type: 'object',
                required: ['resizeSize', 'cropSize', 'mean', 'std', 'interpolation', 'antialias'],
                properties: {
                  resizeSize: { type: 'integer' },
                  cropSize: { type: 'integer' },
                  mean: { type: 'array', items: { type: 'number' } },
                  std: { type: 'array', items: { type: 'number' } },
                  interpolation: { type: 'string', enum: [...INTERPOLATIONS] },
                  antialias: { type: 'boolean' },
                },
              },
            },
          },
        },
      },
    },
    async (request, reply) => manifestOf(request.query.model) ?? reply.callNotFound(),
  );

  app.get<{ Params: { file: string } }>('/on-device/model/:file', { schema: { hide: true } }, async (request, reply) => {
    const file = files.get(request.params.file);
    if (file === undefined) return reply.callNotFound();
    if (notModified(request, reply, `"${file.key}"`)) return reply;
    reply.header('content-type', 'application/octet-stream').header('content-length', file.bytes);
    const { model } = file.onDevice;
    return reply.send(typeof model === 'string' ? createReadStream(model) : Buffer.from(model));
  });

  app.get<{ Params: { version: string; file: string } }>(
    '/on-device/ort/:version/:file',
    { schema: { hide: true } },
    async (request, reply) => {
      const { version, file } = request.params;
      const type = Object.hasOwn(RUNTIME_FILES, file) ? RUNTIME_FILES[file] : undefined;
      if (version !== runtime.version || type === undefined) return reply.callNotFound();
      if (notModified(request, reply, `"ort-${runtime.version}-${file}"`)) return reply;
      const path = join(runtime.dir, file);
      reply.header('content-type', type).header('content-length', (await stat(path)).size);
      return reply.send(createReadStream(path));
    },
  );
};
