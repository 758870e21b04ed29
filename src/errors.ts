/**
 * The one registry of resnet-serve errors. Every failure that reaches a user (HTTP body, CLI line,
 * library caller) carries one of these stable codes; clients and tests branch on `code`, never on text.
 * The README's table of codes lists the same entries and `test/unit/errors.test.ts` keeps the two in step.
 */
export const ERROR_CODES = {
  INVALID_ARGUMENT: { status: 400, summary: 'A parameter is missing, of the wrong type or out of range.' },
  FILE_MISSING: { status: 400, summary: 'The request has no `file` part, or its file name is empty.' },
  FILE_EMPTY: { status: 400, summary: 'The uploaded file has zero bytes.' },
  FILE_TOO_LARGE: { status: 413, summary: 'The upload is larger than the byte limit (`--max-upload`).' },
  IMAGE_TOO_LARGE: { status: 413, summary: 'The image has more pixels than the limit (`--max-pixels`).' },
  UNSUPPORTED_MEDIA_TYPE: { status: 415, summary: 'The bytes are not an image format resnet-serve reads.' },
  IMAGE_CORRUPT: { status: 422, summary: 'The image is truncated or cannot be decoded.' },
  NOT_FOUND: { status: 404, summary: 'No such route or file.' },
  MODEL_NOT_FOUND: { status: 404, summary: 'The request names a model or version this server does not serve (`--model-name`).' },
  QUEUE_FULL: { status: 503, summary: 'The inference queue is full; retry after `Retry-After` seconds.' },
  TIMEOUT: { status: 503, summary: 'The request waited longer than the inference time limit.' },
  NOT_READY: { status: 503, summary: 'The model is still loading, or the server is shutting down.' },
  BAD_REQUEST: { status: 400, summary: 'The request is not valid HTTP/1.1, or its multipart body is malformed.' },
  UNAUTHORIZED: { status: 401, summary: 'The route needs `Authorization: Bearer <key>` (`--api-key`) and none or another was sent.' },
  FORBIDDEN: { status: 403, summary: 'The path is not allowed (it leaves the web root or names a hidden file).' },
  METHOD_NOT_ALLOWED: { status: 405, summary: 'The path exists but not for this method; `Allow` lists the ones it takes.' },
  UPLOAD_TIMEOUT: { status: 408, summary: 'The request body stalled: no byte arrived for `--body-timeout`.' },
  REQUEST_TIMEOUT: {
    status: 408,
    summary: 'The headers took longer than `--headers-timeout`, or the whole request longer than `--receive-timeout`.',
  },
  IMAGE_OVER_BUDGET: { status: 413, summary: 'Decoding the image alone needs more memory than the decode budget (`--decode-budget`).' },
  RATE_LIMITED: {
    status: 429,
    summary: 'Too many requests from this address (`--rate-limit` per minute); retry after `Retry-After` seconds.',
  },
  HEADERS_TOO_LARGE: { status: 431, summary: 'The request line and headers exceed 16 KiB.' },
  CLIENT_ABORTED: {
    status: 499,
    summary: 'Never sent: the client closed the connection before the answer (logged at info, counted in /metrics).',
  },
  TOO_MANY_CONNECTIONS: {
    status: 503,
    summary: 'More connections than `--max-connections` are open; retry after `Retry-After` seconds (health probes still answer).',
  },
  INTERNAL: { status: 500, summary: 'An unexpected failure; the log line with the request id has the details.' },
  WEIGHTS_UNAVAILABLE: { status: 500, summary: 'No weights are cached and they cannot be downloaded.' },
  DOWNLOAD_FAILED: { status: 500, summary: 'The weights download failed or was interrupted.' },
  CHECKSUM_MISMATCH: { status: 500, summary: 'The downloaded file does not have the expected SHA-256.' },
  CHECKPOINT_INVALID: { status: 500, summary: 'The checkpoint file is malformed or not a state_dict.' },
  CHECKPOINT_UNSAFE: { status: 500, summary: 'The checkpoint pickle references a global outside the allow-list.' },
  STATE_DICT_MISMATCH: { status: 500, summary: 'The state_dict has missing, unexpected or mis-shaped keys.' },
  MODEL_INVALID: { status: 500, summary: 'The ONNX model cannot be loaded or does not have the expected inputs and outputs.' },
  INFERENCE_FAILED: { status: 500, summary: 'ONNX Runtime failed to run a model that had loaded.' },
  EXPLAIN_UNAVAILABLE: {
    status: 501,
    summary: 'The model cannot explain its answers: it has no `features` output (a `--model` made elsewhere) or no readable fc layer.',
  },
  FILESYSTEM_ERROR: { status: 500, summary: 'Writing a cache or output file failed (disk full, no permission).' },
  PORT_IN_USE: { status: 500, summary: 'Another process already listens on the address and port `serve` was given.' },
  INPUT_NOT_FOUND: { status: 400, summary: 'An input file named on the command line does not exist or cannot be read.' },
} as const satisfies Record<string, { status: number; summary: string }>;

export type ErrorCode = keyof typeof ERROR_CODES;

export interface ResnetServeErrorOptions {
  cause?: unknown;
  /** Extra machine-readable facts (limits, offending keys) safe to show to the user. */
  details?: Record<string, unknown>;
}

export class ResnetServeError extends Error {
  readonly code: ErrorCode;
  readonly statusCode: number;
  readonly details: Record<string, unknown> | undefined;

  constructor(code: ErrorCode, message: string, options: ResnetServeErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'ResnetServeError';
    this.code = code;
    this.statusCode = ERROR_CODES[code].status;
    this.details = options.details;
  }
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
    : new ResnetServeError('INFERENCE_FAILED', `ONNX Runtime failed to run ${subject}: ${messageOf(cause)}`, { cause });
}

/** A system error's message with its code in front (`ENOSPC: no space left on device`), as people search for it. */
export function systemMessageOf(cause: unknown): string {
  const code = typeof cause === 'object' && cause !== null && 'code' in cause && typeof cause.code === 'string' ? `${cause.code}: ` : '';
  const message = messageOf(cause);
  return code !== '' && message.startsWith(code) ? message : `${code}${message}`;
}

/** FILESYSTEM_ERROR: `action` (e.g. "Writing /x/model.onnx") failed; the system's reason (ENOSPC…) is quoted. */
export function fileSystemFailed(action: string, cause: unknown): ResnetServeError {
  return new ResnetServeError('FILESYSTEM_ERROR', `${action} failed (${systemMessageOf(cause)}).`, { cause });
}

function describe(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (value === null || value === undefined) return String(value);
  // A number reads as itself beside the range it missed ("from 1 to 20 … but received 50"); a string is quoted.
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint') return String(value);
  return `a value of type ${Array.isArray(value) ? 'array' : typeof value}`;
}
