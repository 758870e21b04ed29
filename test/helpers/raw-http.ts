import { connect, type Socket } from 'node:net';

export interface RawAnswer {
  /** 0 when the connection closed without a status line. */
  status: number;
  headers: Record<string, string>;
  body: string;
  json: { code?: string; error?: string; details?: Record<string, unknown> } | undefined;
  /** Every response in the bytes received (e.g. `100 Continue` before the final one), status lines only. */
  statusLines: string[];
  /** Bytes this client wrote before the first byte of the answer arrived. */
  bytesBeforeAnswer: number;
  /** Bytes written in all. */
  bytesWritten: number;
  /** How the exchange ended: the server closed, reset, or the test's time ran out. */
  end: 'closed' | 'reset' | 'timeout';
}

export interface RawOptions {
  /** Sent first, as is. */
  head: string;
  /** Called repeatedly for body chunks until it returns undefined or an answer has arrived. */
  body?: (written: number) => Uint8Array | undefined;
  /** Wait between body chunks, in ms (a slow or stalling client). Default 0. */
  pauseMs?: number;
  /** Give up after this long. Default 10 s. */
  timeoutMs?: number;
}

/**
 * One HTTP/1.1 exchange over a raw TCP socket, so a test controls every byte (lying lengths, bad methods,
 * paths no client library would send) and can count what it wrote before the server answered.
 */
export function rawExchange(port: number, options: RawOptions): Promise<RawAnswer> {
  return new Promise((resolve) => {
    const socket: Socket = connect(port, '127.0.0.1');
    const received: Buffer[] = [];
    let written = 0;
    let beforeAnswer: number | undefined;
    let finished = false;
    const finish = (end: RawAnswer['end']): void => {
      if (finished) return;
      finished = true;
      clearTimeout(timer);
      socket.destroy();
      resolve(parse(Buffer.concat(received).toString('latin1'), beforeAnswer ?? written, written, end));
    };
    const timer = setTimeout(() => finish('timeout'), options.timeoutMs ?? 10_000);
    socket.on('data', (chunk: Buffer) => {
      beforeAnswer ??= written;
      received.push(chunk);
      const text = Buffer.concat(received).toString('latin1');
      const answer = parse(text, beforeAnswer, written, 'closed');
      // A complete final answer (not 100 Continue) with its whole body: done, without waiting for the close.
      const length = Number(answer.headers['content-length'] ?? Number.NaN);
      if (answer.status >= 200 && Number.isFinite(length) && Buffer.byteLength(answer.body, 'latin1') >= length) finish('closed');
    });
    socket.on('end', () => finish('closed'));
    socket.on('error', (error: NodeJS.ErrnoException) =>
      finish(error.code === 'ECONNRESET' || error.code === 'EPIPE' ? 'reset' : 'closed'),
    );
    socket.on('connect', async () => {
      socket.write(options.head);
      written += Buffer.byteLength(options.head);
      const body = options.body;
      if (body === undefined) return;
      for (let chunk = body(written); chunk !== undefined && !finished && beforeAnswer === undefined; chunk = body(written)) {
        written += chunk.length;
        if (!socket.write(chunk)) await new Promise((r) => socket.once('drain', r).once('close', r));
        if ((options.pauseMs ?? 0) > 0) await new Promise((r) => setTimeout(r, options.pauseMs));
      }
    });
  });
}

function parse(text: string, bytesBeforeAnswer: number, bytesWritten: number, end: RawAnswer['end']): RawAnswer {
  const statusLines: string[] = [];
  let rest = text;
  let status = 0;
  let headers: Record<string, string> = {};
  let body = '';
  while (rest.startsWith('HTTP/1.1 ')) {
    const headEnd = rest.indexOf('\r\n\r\n');
    if (headEnd < 0) break;
    const lines = rest.slice(0, headEnd).split('\r\n');
    statusLines.push(lines[0] ?? '');
    status = Number(lines[0]?.split(' ')[1]);
    headers = Object.fromEntries(
      lines.slice(1).map((line) => [line.slice(0, line.indexOf(':')).toLowerCase(), line.slice(line.indexOf(':') + 1).trim()]),
    );
    rest = rest.slice(headEnd + 4);
    if (status >= 200) {
      body = rest;
      break;
    }
  }
  let json: RawAnswer['json'];
  try {
    json = JSON.parse(body.slice(0, Number(headers['content-length'] ?? body.length))) as RawAnswer['json'];
  } catch {
    json = undefined;
  }
  return { status, headers, body, json, statusLines, bytesBeforeAnswer, bytesWritten, end };
}
