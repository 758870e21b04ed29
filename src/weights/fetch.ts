import { createHash, randomBytes } from 'node:crypto';
import { mkdir, open, rename, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { invalidArgument, isResnetServeError, ResnetServeError, systemMessageOf } from '../errors.js';
import { cacheDir } from '../files/cache-dir.js';
import { isFile } from '../files/files.js';
import { rememberSha256 } from '../files/sha256.js';
import { optionsObject } from '../guards.js';
import { DEFAULT_ARCHITECTURE } from './default-weights.js';
import { defaultWeightsOf } from './official-weights.js';

/** Download progress as `downloadWeights` reports it after every chunk and once more at the end. */
export interface DownloadProgress {
  readonly receivedBytes: number;
  /** From Content-Length; undefined when the server does not send one. */
  readonly totalBytes: number | undefined;
  /** Bytes per second since the response started. */
  readonly bytesPerSecond: number;
  /** True on the final report, once the whole body is on disk. */
  readonly done: boolean;
}

export interface DownloadOptions {
  url: string;
  /** Final path; the body goes to a per-process `<destination>.<pid>-<random>.part` first. */
  destination: string;
  /** Hex digits the SHA-256 must start with (torch.hub `check_hash`). No check when absent. */
  sha256Prefix?: string;
  /** Called after every chunk with a growing `receivedBytes`, then once with `done: true`. */
  onProgress?: (progress: DownloadProgress) => void;
  signal?: AbortSignal;
  /** Longest the whole download may take. Default 30 min (46.8 MB at 26 KB/s). */
  timeoutMs?: number;
  /** Longest wait for the response or for the next chunk. Default 60 s. */
  stallTimeoutMs?: number;
  /** Largest body accepted, by Content-Length and by bytes received. Default 1 GiB (resnet18 is 46.8 MB). */
  maxBytes?: number;
}

export interface DownloadResult {
  path: string;
  sha256: string;
  bytes: number;
}

/** Why a download failed, in `details.reason` of DOWNLOAD_FAILED. `network`/`timeout`/`stall` mean "offline". */
export type DownloadFailure = 'network' | 'timeout' | 'stall' | 'aborted' | 'http' | 'too-large' | 'interrupted' | 'filesystem';

const DEFAULT_TIMEOUT_MS = 30 * 60_000;
const DEFAULT_STALL_TIMEOUT_MS = 60_000;
const DEFAULT_MAX_BYTES = 1024 ** 3;
const OFFLINE_REASONS: ReadonlySet<string> = new Set<DownloadFailure>(['network', 'timeout', 'stall']);

/**
 * Streams `url` to `destination`, hashing SHA-256 on the way, then fsyncs and renames atomically. On any
 * failure the partial file is removed and nothing is left at `destination`.
 *
 * @throws ResnetServeError DOWNLOAD_FAILED (HTTP status, network error, interruption, size or time limit,
 *   abort; `details.reason` says which) or CHECKSUM_MISMATCH (the SHA-256 does not start with `sha256Prefix`).
 */
export async function downloadWeights(options: DownloadOptions): Promise<DownloadResult> {
  const { url, destination } = options;
  const maxBytes = options.maxBytes ?? DEFAULT_MAX_BYTES;
  const stallTimeoutMs = options.stallTimeoutMs ?? DEFAULT_STALL_TIMEOUT_MS;
  const controller = new AbortController();
  let abortReason: DownloadFailure | undefined;
  const stop = (reason: DownloadFailure): void => {
    abortReason ??= reason;
    controller.abort();
  };
  const onUserAbort = (): void => stop('aborted');
  if (options.signal?.aborted === true) stop('aborted');
  options.signal?.addEventListener('abort', onUserAbort, { once: true });
  const deadline = setTimeout(() => stop('timeout'), options.timeoutMs ?? DEFAULT_TIMEOUT_MS).unref();
  let stall = setTimeout(() => stop('stall'), stallTimeoutMs).unref();
  const failed = (reason: DownloadFailure, why: string, cause?: unknown): ResnetServeError =>
    new ResnetServeError('DOWNLOAD_FAILED', { url, why }, { cause, details: { url, reason, why } });
  const describeAbort = (): string =>
    abortReason === 'timeout'
      ? `it took longer than ${options.timeoutMs ?? DEFAULT_TIMEOUT_MS} ms`
      : abortReason === 'stall'
        ? `no data arrived for ${stallTimeoutMs} ms`
        : 'it was cancelled';

  const part = `${destination}.${process.pid}-${randomBytes(4).toString('hex')}.part`;
  try {
    let response: Response;
    try {
      response = await fetch(url, { signal: controller.signal, redirect: 'follow' });
    } catch (cause) {
      throw abortReason !== undefined
        ? failed(abortReason, describeAbort(), cause)
        : failed('network', `the server cannot be reached (${causeText(cause)})`, cause);
    }
    if (!response.ok || response.body === null) {
      await response.body?.cancel().catch(() => undefined);
      throw failed('http', `the server answered HTTP ${response.status} ${response.statusText}`.trimEnd());
    }
    const declared = response.headers.get('content-length');
    const totalBytes = declared !== null && /^\d+$/.test(declared) ? Number(declared) : undefined;
    if (totalBytes !== undefined && totalBytes > maxBytes) {
      await response.body.cancel().catch(() => undefined);
      throw failed('too-large', `it is ${totalBytes} bytes, more than the ${maxBytes}-byte limit`);
    }

    try {
      await mkdir(dirname(destination), { recursive: true });
    } catch (cause) {
      throw failed('filesystem', `cannot create ${dirname(destination)}`, cause);
    }
    const hash = createHash('sha256');
    const started = Date.now();
    let receivedBytes = 0;
    const report = (done: boolean): void => {
      const seconds = Math.max((Date.now() - started) / 1000, 1e-3);
      options.onProgress?.({ receivedBytes, totalBytes, bytesPerSecond: receivedBytes / seconds, done });
    };
    const file = await open(part, 'wx');
    try {
      const reader = response.body.getReader();
      for (;;) {
        let chunk: ReadableStreamReadResult<Uint8Array>;
        try {
          chunk = await reader.read();
        } catch (cause) {
          throw abortReason !== undefined
            ? failed(abortReason, describeAbort(), cause)
            : failed('interrupted', `the connection broke after ${receivedBytes} bytes (${causeText(cause)})`, cause);
        }
        if (chunk.done) break;
        receivedBytes += chunk.value.byteLength;
        if (receivedBytes > maxBytes) {
          await reader.cancel().catch(() => undefined);
          throw failed('too-large', `it is more than the ${maxBytes}-byte limit`);
        }
        clearTimeout(stall);
        stall = setTimeout(() => stop('stall'), stallTimeoutMs).unref();
        hash.update(chunk.value);
        await file.write(chunk.value);
        report(false);
      }
      if (totalBytes !== undefined && receivedBytes !== totalBytes) {
        throw failed('interrupted', `the body ended after ${receivedBytes} of ${totalBytes} bytes`);
      }
      // fsync before rename: otherwise a crash can leave a renamed but empty file that looks cached.
      await file.sync();
    } finally {
      await file.close();
    }
    report(true);

    const sha256 = hash.digest('hex');
    if (options.sha256Prefix !== undefined && !sha256.startsWith(options.sha256Prefix.toLowerCase())) {
      const facts = { url, sha256, expectedPrefix: options.sha256Prefix };
      throw new ResnetServeError('CHECKSUM_MISMATCH', facts, { details: facts });
    }
    await rename(part, destination);
    return { path: destination, sha256, bytes: receivedBytes };
  } catch (error) {
    await rm(part, { force: true });
    throw isResnetServeError(error) ? error : failed('filesystem', `writing ${part} failed (${causeText(error)})`, error);
  } finally {
    clearTimeout(deadline);
    clearTimeout(stall);
    options.signal?.removeEventListener('abort', onUserAbort);
  }
}

/** undici wraps the real reason (ECONNREFUSED, ENOTFOUND, "other side closed") in `cause`. */
function causeText(error: unknown): string {
  return systemMessageOf(error instanceof Error && error.cause !== undefined ? error.cause : error);
}

export interface ResolveWeightsOptions {
  /** `--weights PATH`: a local checkpoint used as is. */
  weightsPath?: string;
  /**
   * `--arch NAME`: the TorchVision builder whose DEFAULT weights are downloaded when neither `weightsPath` nor
   * `weightsUrl` is given. Default `resnet18` (IMAGENET1K_V1).
   */
  architecture?: string;
  /** `--weights-url URL`: where to download from. Default: the architecture's DEFAULT weights (weights/torchvision-weights.ts). */
  weightsUrl?: string;
  /** Cache directory. Default `cacheDir()` ($RESNET_SERVE_HOME or ~/.cache/resnet-serve). */
  home?: string;
  /** Download when not cached. Default true. */
  download?: boolean;
  /** Called as the download goes (see {@link DownloadOptions.onProgress}); the command line draws a bar with it. Default none. */
  onProgress?: (progress: DownloadProgress) => void;
  signal?: AbortSignal;
}

/**
 * The path of the weights to load: `weightsPath` if given, else `<home>/<file name of the URL>` — downloaded
 * and hash-checked first when it is not there yet (the hash is then remembered, see files/sha256.ts).
 *
 * @example await resolveWeights() // '/home/me/.cache/resnet-serve/resnet18-f37072fd.pth'
 * @throws ResnetServeError INPUT_NOT_FOUND when `weightsPath` is not a readable file; INVALID_ARGUMENT when
 *   `weightsUrl` is not an http(s) URL ending in a file name; WEIGHTS_UNAVAILABLE when the file is not
 *   cached and cannot be downloaded (offline, or `download: false`); DOWNLOAD_FAILED / CHECKSUM_MISMATCH
 *   for other download failures.
 */
export async function resolveWeights(options: ResolveWeightsOptions = {}): Promise<string> {
  optionsObject('options', options);
  if (options.weightsPath !== undefined) {
    if (!(await isFile(options.weightsPath))) {
      throw new ResnetServeError(
        'INPUT_NOT_FOUND',
        // Not "--weights": eval's --compare and a model repository name weights files too.
        `The weights file ${options.weightsPath} does not exist or is not a file.`,
        {
          details: { path: options.weightsPath },
        },
      );
    }
    return options.weightsPath;
  }
  const url = options.weightsUrl ?? defaultWeightsOf(options.architecture ?? DEFAULT_ARCHITECTURE).url;
  const fileName = weightsFileName(url);
  const home = options.home ?? cacheDir();
  const destination = join(home, fileName);
  if (await isFile(destination)) return destination;
  const unavailable = (why: string, cause?: unknown): ResnetServeError =>
    new ResnetServeError('WEIGHTS_UNAVAILABLE', offlineHelp(url, destination, why), { cause, details: { url, path: destination } });
  if (options.download === false) throw unavailable('downloading is turned off');
  const sha256Prefix = expectedHashPrefix(url);
  const { onProgress } = options;
  try {
    const { sha256 } = await downloadWeights({
      url,
      destination,
      ...(sha256Prefix === undefined ? {} : { sha256Prefix }),
      ...(options.signal === undefined ? {} : { signal: options.signal }),
      ...(onProgress === undefined ? {} : { onProgress }),
    });
    // Hashed on the way in: its first use need not read it again.
    await rememberSha256(home, destination, sha256);
  } catch (error) {
    if (isResnetServeError(error) && error.code === 'DOWNLOAD_FAILED' && OFFLINE_REASONS.has(String(error.details?.reason))) {
      throw unavailable(String(error.details?.why), error);
    }
    throw error;
  }
  return destination;
}

/** The single paragraph an offline user needs: what to fetch, where to put it, and the alternatives. */
function offlineHelp(url: string, destination: string, why: string): string {
  return (
    `The model weights are not cached and could not be downloaded: ${why}. ` +
    `Fetch ${url} on a machine with internet access and copy it to ${destination} (keep that file name), ` +
    'or pass a local copy with --weights PATH, a reachable mirror with --weights-url URL, ' +
    'or set RESNET_SERVE_HOME to a directory that already holds the file.'
  );
}

/** torch.hub names files `<name>-<first hex digits of the SHA-256>.pth` (hub.py HASH_REGEX). */
const HASH_IN_NAME = /-([0-9a-f]{8,})\.pth$/;

/** The SHA-256 prefix a download from `url` must have: the hex digits in its file name, as torch.hub's `check_hash` reads them. */
export function expectedHashPrefix(url: string): string | undefined {
  return HASH_IN_NAME.exec(weightsFileName(url))?.[1];
}

/**
 * The cache file name for a weights URL: its last path segment, decoded, which must be a plain file name
 * (`[A-Za-z0-9_.-]`, not only dots) since it names a file in the cache, e.g. `resnet18-f37072fd.pth`.
 * @throws ResnetServeError INVALID_ARGUMENT for a non-http(s) URL or one without a plain file name.
 */
export function weightsFileName(url: string): string {
  let parsed: URL;
  let fileName: string;
  try {
    parsed = new URL(url);
    fileName = decodeURIComponent(parsed.pathname.split('/').pop() ?? '');
  } catch {
    throw invalidArgument('weightsUrl', 'an http(s) URL', url);
  }
  if ((parsed.protocol !== 'http:' && parsed.protocol !== 'https:') || !/^[\w.-]+$/.test(fileName) || /^\.+$/.test(fileName)) {
    throw invalidArgument('weightsUrl', 'an http(s) URL ending in a file name', url);
  }
  return fileName;
}
