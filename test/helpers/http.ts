import { type ClientRequest, request } from 'node:http';

export interface HttpAnswer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
  /** Parsed JSON body, or undefined. */
  json: { code?: string; [key: string]: unknown } | undefined;
}

/** POSTs one image the way `curl -F file=@…` does. */
export async function postImage(
  url: string,
  bytes: Uint8Array,
  options: { field?: string; filename?: string; query?: string } = {},
): Promise<HttpAnswer> {
  const form = new FormData();
  form.append(options.field ?? 'file', new Blob([Buffer.from(bytes)]), options.filename ?? 'image.jpg');
  const res = await fetch(`${url}/predict${options.query ?? ''}`, { method: 'POST', body: form });
  const body = await res.text();
  return { status: res.status, headers: Object.fromEntries(res.headers), body, json: parseJson(body) };
}

function parseJson(body: string): HttpAnswer['json'] {
  try {
    return JSON.parse(body) as HttpAnswer['json'];
  } catch {
    return undefined;
  }
}

/**
 * Sends `chunks` of a raw HTTP body with node:http, resolving with the first response even if the server
 * answers (and stops reading) before the body is fully sent: an early 413 must not look like a failure.
 */
export function rawPost(
  url: string,
  headers: Record<string, string>,
  chunks: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
): Promise<HttpAnswer & { bytesSent: number }> {
  return new Promise((resolve, reject) => {
    let bytesSent = 0;
    let answered = false;
    const req = request(url, { method: 'POST', headers }, (res) => {
      answered = true;
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => {
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body, json: parseJson(body), bytesSent });
        req.destroy();
      });
      res.on('error', reject);
    });
    req.on('error', (error) => {
      if (!answered) reject(error);
    });
    void (async () => {
      for await (const chunk of chunks) {
        if (answered || req.destroyed) break;
        bytesSent += chunk.length;
        if (!req.write(chunk)) await drainedOrClosed(req);
      }
      if (!req.destroyed) req.end();
    })().catch(() => undefined);
  });
}

/** Waits for `drain` or `close`, whichever comes first, and leaves no listener behind for the other. */
function drainedOrClosed(req: ClientRequest): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      req.off('drain', done).off('close', done);
      resolve();
    };
    req.once('drain', done).once('close', done);
  });
}

/**
 * The status of a GET, or the error code (`ECONNREFUSED`, `ECONNRESET`, `TIMEOUT`) when there is none. For
 * polling a server that is still starting: node:http, because Node 20's fetch can hang for good, with no timer
 * able to end it, on a connection reset right after it is accepted (as Docker's port proxy does while the
 * container does not listen yet).
 */
export function getStatus(url: string, timeoutMs = 2000): Promise<number | string> {
  return new Promise((resolve) => {
    const req = request(url, { agent: false, timeout: timeoutMs }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? error.message));
    req.on('timeout', () => {
      req.destroy();
      resolve('TIMEOUT');
    });
    req.end();
  });
}
