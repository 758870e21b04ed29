/**
 * The one registry of resnet-serve errors, as Fastify's lib/errors.js keeps its own: each stable code with its
 * HTTP status, the one-line summary docs/errors.md's table of codes shows, and the template of its message. Every
 * failure that reaches a user (HTTP body, gRPC status, CLI line, library caller) is a {@link ResnetServeError}
 * built from one of these entries; clients and tests branch on `code`, never on text. `npm run docs` writes that table
 * (src/cli/usage.ts) and `test/unit/errors.test.ts` keeps it equal to this one.
 *
 * A code that names one event words it here, from the facts the thrower passes (`FILE_TOO_LARGE` gets a subject
 * and a limit), so that event reads the same on every route. A code that covers a family of events (a bad
 * argument, a malformed checkpoint) takes the thrower's own sentence, as Fastify's `FST_ERR_VALIDATION` takes `%s`.
 */
export const ERROR_CODES = {
  INVALID_ARGUMENT: {
    status: 400,
    summary: 'A parameter is missing, of the wrong type or out of range.',
    message: told,
  },
  FILE_MISSING: {
    status: 400,
    summary:
      'The request has no file in the multipart part the route reads (`file` for /predict, `data` for TorchServe), or its file name is empty.',
    message: ({ route, part }: { route: string; part: string }) =>
      `${route} expects multipart/form-data with the image in a part named \`${part}\` (curl -F ${part}=@cat.jpg).`,
  },
  FILE_EMPTY: {
    status: 400,
    summary: 'The uploaded file has zero bytes.',
    message: ({ subject, hint }: { subject: string; hint?: string }) =>
      `${subject} is empty (0 bytes)${hint === undefined ? '' : `: ${hint}`}.`,
  },
  FILE_TOO_LARGE: {
    status: 413,
    summary: 'The upload is larger than the byte limit (`--max-upload`).',
    message: ({ subject, limitBytes }: { subject: string; limitBytes: number }) =>
      `${subject} is larger than the ${formatBytes(limitBytes)} limit (--max-upload).`,
  },
  IMAGE_TOO_LARGE: {
    status: 413,
    summary: 'The image has more pixels than the limit (`--max-pixels`).',
    message: ({ width, height, maxPixels }: { width: number; height: number; maxPixels: number }) =>
      `The image is ${width}×${height} = ${width * height} pixels, more than the limit of ${maxPixels}.`,
  },
  UNSUPPORTED_MEDIA_TYPE: {
    status: 415,
    summary: 'The bytes are not an image format resnet-serve reads.',
    message: told,
  },
  IMAGE_CORRUPT: {
    status: 422,
    summary: 'The image is truncated or cannot be decoded.',
    message: ({ format, part }: { format: string; part: 'header' | 'data' }) =>
      `The ${format.toUpperCase()} ${part === 'header' ? 'header cannot be read' : 'data is truncated or corrupt'}.`,
  },
  NOT_FOUND: {
    status: 404,
    summary: 'No such route or file.',
    message: ({ method, path }: { method: string; path: string }) => `No route or file for ${method} ${path}.`,
  },
  MODEL_NOT_FOUND: {
    status: 404,
    summary: 'The request names a model or version this server does not serve (`--model-name`).',
    message: (facts: { model: string; served: string } | { model: string; version: string; servedVersion: string }) =>
      'served' in facts
        ? `Unknown model "${facts.model}": this server serves "${facts.served}".`
        : `Unknown version "${facts.version}" of model "${facts.model}": the only version is "${facts.servedVersion}".`,
  },
  QUEUE_FULL: {
    status: 503,
    summary: 'The inference queue is full; retry after `Retry-After` seconds.',
    message: ({ maxQueue }: { maxQueue: number }) => `The inference queue is full (${maxQueue} requests); try again shortly.`,
  },
  TIMEOUT: {
    status: 503,
    summary: 'The request waited longer than the inference time limit.',
    message: ({ timeoutMs }: { timeoutMs: number }) => `The request waited more than ${timeoutMs} ms for inference.`,
  },
  NOT_READY: {
    status: 503,
    summary: 'The model is still loading, or the server is shutting down.',
    message: told,
  },
  BAD_REQUEST: {
    status: 400,
    summary: 'The request is not valid HTTP/1.1, or its multipart body is malformed.',
    message: told,
  },
  UNAUTHORIZED: {
    status: 401,
    summary: 'The route needs `Authorization: Bearer <key>` (`--api-key`) and none or another was sent.',
    message: () => 'This route needs `Authorization: Bearer <key>` with the server’s API key.',
  },
  FORBIDDEN: {
    status: 403,
    summary: 'The path is not allowed (it leaves the web root or names a hidden file), or the origin is not (`--cors-origin`).',
    message: (facts: { path: string } | { origin: string | undefined }) =>
      !('origin' in facts)
        ? `The path ${facts.path} is not allowed.`
        : facts.origin === undefined
          ? 'Cross-origin requests need an Origin header that --cors-origin allows.'
          : `Requests from the origin ${facts.origin} are not allowed (--cors-origin).`,
  },
  METHOD_NOT_ALLOWED: {
    status: 405,
    summary: 'The path exists but not for this method; `Allow` lists the ones it takes.',
    message: ({ method, path, allowed }: { method: string; path: string; allowed: readonly string[] }) =>
      `${path} takes ${allowed.join(', ')}, not ${method}.`,
  },
  UPLOAD_TIMEOUT: {
    status: 408,
    summary: 'The request body stalled: no byte arrived for `--body-timeout`.',
    message: ({ bodyTimeoutMs }: { bodyTimeoutMs: number }) => `No byte of the request body arrived for ${bodyTimeoutMs / 1000} s.`,
  },
  REQUEST_TIMEOUT: {
    status: 408,
    summary: 'The headers took longer than `--headers-timeout`, or the whole request longer than `--receive-timeout`.',
    message: () => 'The request took too long to arrive.',
  },
  IMAGE_OVER_BUDGET: {
    status: 413,
    summary: 'Decoding the image alone needs more memory than the decode budget (`--decode-budget`).',
    message: ({
      width,
      height,
      decodedBytes,
      decodeBudgetBytes,
    }: {
      width: number;
      height: number;
      decodedBytes: number;
      decodeBudgetBytes: number;
    }) => `Decoding this ${width}×${height} image takes ${decodedBytes} bytes, more than the decode budget of ${decodeBudgetBytes}.`,
  },
  RATE_LIMITED: {
    status: 429,
    summary: 'Too many requests from this address (`--rate-limit` per minute); retry after `Retry-After` seconds.',
    message: ({ limitPerMinute, retryAfter }: { limitPerMinute: number; retryAfter: string }) =>
      `More than ${limitPerMinute} requests a minute from this address; retry in ${retryAfter}.`,
  },
  HEADERS_TOO_LARGE: {
    status: 431,
    summary: 'The request line and headers exceed 16 KiB.',
    message: ({ limitBytes }: { limitBytes: number }) => `The request line and headers are larger than ${formatBytes(limitBytes)}.`,
  },
  CLIENT_ABORTED: {
    status: 499,
    summary: 'Never sent: the client closed the connection before the answer (logged at info, counted in /metrics).',
    message: () => 'The client closed the connection before the answer.',
  },
  TOO_MANY_CONNECTIONS: {
    status: 503,
    summary: 'More connections than `--max-connections` are open; retry after `Retry-After` seconds (health probes still answer).',
    message: ({ maxConnections }: { maxConnections: number }) =>
      `The server has ${maxConnections} connections open, its limit; retry shortly.`,
  },
  INTERNAL: {
    status: 500,
    summary: 'An unexpected failure; the log line with the request id has the details.',
    message: told,
  },
  WEIGHTS_UNAVAILABLE: {
    status: 500,
    summary: 'No weights are cached and they cannot be downloaded.',
    message: told,
  },
  DOWNLOAD_FAILED: {
    status: 500,
    summary: 'The weights download failed or was interrupted.',
    message: ({ url, why }: { url: string; why: string }) => `Downloading ${url} failed: ${why}.`,
  },
  CHECKSUM_MISMATCH: {
    status: 500,
    summary: 'The downloaded file does not have the expected SHA-256.',
    message: ({ url, sha256, expectedPrefix }: { url: string; sha256: string; expectedPrefix: string }) =>
      `The file downloaded from ${url} has SHA-256 ${sha256}, which does not start with the expected ${expectedPrefix}; it was discarded.`,
  },
  WEIGHTS_INVALID: {
    status: 500,
    summary: 'A weights file named as TorchVision publishes it (`resnet18-f37072fd.pth`) does not have the SHA-256 its name promises.',
    message: ({ path, sha256, expectedPrefix }: { path: string; sha256: string; expectedPrefix: string }) =>
      `The weights file ${path} has SHA-256 ${sha256}, which does not start with the ${expectedPrefix} its name promises: it is not the file TorchVision publishes under that name. Delete it (resnet-serve downloads the real one) or rename it.`,
  },
  CHECKPOINT_INVALID: {
    status: 500,
    summary: 'The checkpoint file is malformed or not a state_dict.',
    message: told,
  },
  CHECKPOINT_UNSAFE: {
    status: 500,
    summary: 'The checkpoint pickle references a global outside the allow-list.',
    message: ({ global }: { global: string }) =>
      `The checkpoint's pickle references the global ${global}, which is not on the allow-list of tensor and state_dict builders; refusing to load it (a pickle can run arbitrary code this way).`,
  },
  STATE_DICT_MISMATCH: {
    status: 500,
    summary: 'The state_dict has missing, unexpected or mis-shaped keys.',
    message: told,
  },
  MODEL_INVALID: {
    status: 500,
    summary: 'The ONNX model cannot be loaded or does not have the expected inputs and outputs.',
    message: told,
  },
  INFERENCE_FAILED: {
    status: 500,
    summary: 'ONNX Runtime failed to run a model that had loaded.',
    message: ({ subject, reason }: { subject: string; reason: string }) => `ONNX Runtime failed to run ${subject}: ${reason}`,
  },
  EXPLAIN_UNAVAILABLE: {
    status: 501,
    summary:
      'The model cannot explain its answers: its head is not global-average-pool → linear (ConvNeXt, MobileNetV3), or it has no `features` output (a `--model` made elsewhere).',
    message: ({ reason }: { reason: string }) => `This model cannot show where it looked: ${reason}.`,
  },
  FILESYSTEM_ERROR: {
    status: 500,
    summary: 'Writing a cache or output file failed (disk full, no permission).',
    message: ({ action, reason }: { action: string; reason: string }) => `${action} failed (${reason}).`,
  },
  PORT_IN_USE: {
    status: 500,
    summary: 'Another process already listens on the address and port `serve` was given.',
    message: told,
  },
  INPUT_NOT_FOUND: {
    status: 400,
    summary: 'An input file named on the command line does not exist or cannot be read.',
    message: told,
  },
} as const satisfies Record<string, { status: number; summary: string; message: (facts: never) => string }>;

export type ErrorCode = keyof typeof ERROR_CODES;

/** What the message template of `code` is filled with: the facts of the event, or the thrower's own sentence. */
export type MessageFacts<C extends ErrorCode> = Parameters<(typeof ERROR_CODES)[C]['message']>[0];

export interface ResnetServeErrorOptions {
  cause?: unknown;
  /** Extra machine-readable facts (limits, offending keys) safe to show to the user. */
  details?: Record<string, unknown>;
}

/** A constructor call: the code, then its template's facts (optional when it takes none), then the options. */
export type ResnetServeErrorArguments = {
  [C in ErrorCode]: undefined extends MessageFacts<C>
    ? [code: C, facts?: MessageFacts<C>, options?: ResnetServeErrorOptions]
    : [code: C, facts: MessageFacts<C>, options?: ResnetServeErrorOptions];
}[ErrorCode];

/** The template of a code that covers a family of events: the thrower's sentence is the message. */
function told(sentence: string): string {
  return sentence;
}

/** Set only by {@link inContext}: a message already made from a template, told again with where it happened. */
const RETOLD: unique symbol = Symbol('retold');

/**
 * A failure with a stable code. Its message comes from the code's template in {@link ERROR_CODES}:
 *
 * @example
 * new ResnetServeError('FILE_TOO_LARGE', { subject: 'The upload', limitBytes: 10 * 1024 * 1024 }).message
 * // → 'The upload is larger than the 10 MiB limit (--max-upload).'
 * new ResnetServeError('INVALID_ARGUMENT', 'The request has two inputs.').statusCode // → 400
 */
export class ResnetServeError extends Error {
  readonly code: ErrorCode;
  readonly statusCode: number;
  readonly details: Record<string, unknown> | undefined;

  constructor(...[code, facts, options = {}]: ResnetServeErrorArguments) {
    const retold = (options as { [RETOLD]?: string })[RETOLD];
    const template = ERROR_CODES[code].message as (facts: unknown) => string;
    super(retold ?? template(facts), options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'ResnetServeError';
    this.code = code;
    this.statusCode = ERROR_CODES[code].status;
    this.details = options.details;
  }
}

/**
 * The same failure told where it happened: `"<context>: <message>"`, the same code, the details merged, the
 * original as the cause (an element of a batch, a file of a folder).
 */
export function inContext(error: ResnetServeError, context: string, details?: Record<string, unknown>): ResnetServeError {
  const options = {
    cause: error,
    details: details === undefined ? error.details : { ...error.details, ...details },
    [RETOLD]: `${context}: ${error.message}`,
  };
  return new ResnetServeError(...([error.code, undefined, options] as unknown as ResnetServeErrorArguments));
}

export function isResnetServeError(value: unknown): value is ResnetServeError {
  return value instanceof ResnetServeError;
}

/** Builds the uniform "Expected … for <name> but received …" message used by every argument guard. */
export function invalidArgument(name: string, expected: string, received: unknown): ResnetServeError {
  return new ResnetServeError('INVALID_ARGUMENT', `Expected ${expected} for ${name} but received ${describe(received)}`, {
    details: { parameter: name },
  });
}

/**
 * The message of whatever was thrown: an Error's message, else its string form. The one place that looks inside
 * foreign failures for text, so every wrapper words them alike.
 */
export function messageOf(cause: unknown): string {
  return cause instanceof Error ? cause.message : String(cause);
}

/** NOT_READY: the model is loading, failed to load, or the process is shutting down. */
export function notReady(reason: string): ResnetServeError {
  return new ResnetServeError('NOT_READY', reason);
}

/**
 * An ONNX Runtime failure, one code per event: it could not load a model (MODEL_INVALID) or failed to run one
 * that had loaded (INFERENCE_FAILED).
 */
export function onnxRuntimeFailed(event: 'load' | 'run', cause: unknown, subject = 'the model'): ResnetServeError {
  return event === 'load'
    ? new ResnetServeError('MODEL_INVALID', `ONNX Runtime could not load ${subject}: ${messageOf(cause)}`, { cause })
    : new ResnetServeError('INFERENCE_FAILED', { subject, reason: messageOf(cause) }, { cause });
}

/** A system error's message with its code in front (`ENOSPC: no space left on device`), as people search for it. */
export function systemMessageOf(cause: unknown): string {
  const code = typeof cause === 'object' && cause !== null && 'code' in cause && typeof cause.code === 'string' ? `${cause.code}: ` : '';
  const message = messageOf(cause);
  return code !== '' && message.startsWith(code) ? message : `${code}${message}`;
}

/** FILESYSTEM_ERROR: `action` (e.g. "Writing /x/model.onnx") failed; the system's reason (ENOSPC…) is quoted. */
export function fileSystemFailed(action: string, cause: unknown): ResnetServeError {
  return new ResnetServeError('FILESYSTEM_ERROR', { action, reason: systemMessageOf(cause) }, { cause });
}

function describe(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (value === null || value === undefined) return String(value);
  // A number reads as itself beside the range it missed ("from 1 to 20 … but received 50"); a string is quoted.
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint') return String(value);
  return `a value of type ${Array.isArray(value) ? 'array' : typeof value}`;
}

const KIB = 1024;
const MIB = 1024 * KIB;

/** A byte limit as people read it: `10 MiB`, `10.1 MiB`, `16 KiB`, `700 bytes` (one decimal, only when not whole). */
export function formatBytes(bytes: number): string {
  const [unit, size] = bytes >= MIB ? ['MiB', MIB] : bytes >= KIB ? ['KiB', KIB] : ['bytes', 1];
  return `${(bytes / size).toFixed(bytes % size === 0 ? 0 : 1)} ${unit}`;
}
