/**
 * Hostile and careless clients against a real socket on 127.0.0.1 (stand-in classifier): uploads bounded
 * whatever the framing, timeouts, the connection cap, one `{error, code}` contract for every refusal, and the
 * options for exposed deployments. Short limits are set through the same options as the settings.
 */
import { execFile } from 'node:child_process';
import { connect } from 'node:net';
import { promisify } from 'node:util';
import { afterEach, describe, expect, test } from 'vitest';
import type { ERROR_CODES } from '../../src/errors.js';

import { type ServerHandle, type StartOptions, startServer } from '../../src/server/start.js';
import { FakeClassifier } from '../helpers/fake-classifier.js';
import { fileUpload } from '../helpers/multipart.js';
import { freePort } from '../helpers/ports.js';
import { type RawAnswer, rawExchange } from '../helpers/raw-http.js';

const run = promisify(execFile);
const KiB = 1024;
const MiB = 1024 * KiB;
const PNG = Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), Buffer.alloc(64, 1)]);
/** The multipart envelope the server allows beyond the upload limit (routes/predict.ts). */
const ENVELOPE = 64 * KiB;
const LIMIT = 1 * MiB;

let server: ServerHandle | undefined;
let logs: Record<string, unknown>[] = [];

async function start(options: Partial<StartOptions> = {}): Promise<{ url: string; port: number }> {
  logs = [];
  const stream = { write: (line: string) => logs.push(JSON.parse(line) as Record<string, unknown>) };
  server = await startServer({
    host: '127.0.0.1',
    port: 0,
    loadClassifier: async () => new FakeClassifier(),
    logger: { level: 'info', stream },
    maxUploadBytes: LIMIT,
    ...options,
  });
  await server.ready;
  return { url: server.url, port: Number(new URL(server.url).port) };
}

afterEach(async () => {
  await server?.close();
  server = undefined;
});

const contract = (answer: { json?: { code?: string; error?: string } | undefined }, code: keyof typeof ERROR_CODES): void => {
  expect(answer.json?.code).toBe(code);
  expect(typeof answer.json?.error).toBe('string');
};

/** A multipart head for one file part, then `filler` bytes for as long as the client keeps sending. */
const partHead = (boundary: string): Buffer =>
  Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="a.png"\r\nContent-Type: image/png\r\n\r\n`);

function chunked(chunk: Buffer): string {
  return `${chunk.length.toString(16)}\r\n${chunk.toString('latin1')}\r\n`;
}

describe('uploads are bounded whatever the framing', () => {
  test('a chunked upload that never ends gets 413 after at most the limit and the envelope', async () => {
    const { port } = await start();
    const filler = Buffer.alloc(64 * KiB, 7);
    const answer = await rawExchange(port, {
      head: 'POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=B\r\nTransfer-Encoding: chunked\r\n\r\n',
      body: (written) =>
        written === 0
          ? undefined
          : written > 200 * MiB
            ? undefined
            : Buffer.from(chunked(written < 300 ? partHead('B') : filler), 'latin1'),
      timeoutMs: 20_000,
    });
    expect(answer.status).toBe(413);
    contract(answer, 'FILE_TOO_LARGE');
    const received = answer.json?.details?.receivedBytes as number;
    expect(received).toBeLessThanOrEqual(LIMIT + ENVELOPE);
    console.log(
      `[hardening] endless chunked upload: server read ${received} B before 413; client had written ${answer.bytesBeforeAnswer} B (kernel buffers included)`,
    );
  });

  test('a Content-Length that lies low still ends at the limit: the file part is cut and answered at once', async () => {
    const { port } = await start();
    const declared = LIMIT + ENVELOPE; // just within the body limit, but the file in it is over the upload limit
    const head = partHead('B');
    const answer = await rawExchange(port, {
      head: `POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=B\r\nContent-Length: ${declared}\r\n\r\n`,
      body: (written) => (written > declared ? undefined : written < 300 ? head : Buffer.alloc(32 * KiB, 1)),
    });
    expect(answer.status).toBe(413);
    contract(answer, 'FILE_TOO_LARGE');
    expect(answer.json?.details?.receivedBytes as number).toBeLessThanOrEqual(LIMIT + ENVELOPE);
  });

  test('a declared length over the limit is refused before 100 Continue, so the body is never sent', async () => {
    const { port } = await start();
    const answer = await rawExchange(port, {
      head: `POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=B\r\nContent-Length: ${50 * MiB}\r\nExpect: 100-continue\r\n\r\n`,
    });
    expect(answer.statusLines).toEqual(['HTTP/1.1 413 Payload Too Large']);
    contract(answer, 'FILE_TOO_LARGE');
    expect(answer.json?.details).toMatchObject({ declaredBytes: 50 * MiB });
  });

  test('a declared length within the limit gets 100 Continue, then the answer', async () => {
    const { port } = await start();
    const upload = fileUpload(PNG);
    const answer = await rawExchange(port, {
      head: `POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: ${upload.headers['content-type']}\r\nContent-Length: ${upload.payload.length}\r\nExpect: 100-continue\r\n\r\n`,
      body: (written) => (written > 300 ? undefined : upload.payload),
    });
    expect(answer.statusLines[0]).toBe('HTTP/1.1 100 Continue');
    expect(answer.status).toBe(200);
  });

  const oversized = Buffer.alloc(3 * MiB, 9);

  test('curl reads the 413 of an oversized upload', async () => {
    const { url } = await start();
    // curl reads the file from stdin.
    const child = execFile('curl', ['-s', '-S', '-w', '\\n%{http_code}', '-F', 'file=@-;filename=big.png', `${url}/predict`], {
      encoding: 'utf8',
    });
    child.stdin?.end(oversized);
    const output = await new Promise<string>((resolve) => {
      let text = '';
      child.stdout?.on('data', (d: string) => (text += d));
      child.on('close', () => resolve(text));
    });
    const [body, status] = output.split('\n');
    expect(status).toBe('413');
    expect(JSON.parse(body ?? '{}').code).toBe('FILE_TOO_LARGE');
  });

  test("Node's fetch reads the 413 of an oversized upload", async () => {
    const { url } = await start();
    const form = new FormData();
    form.append('file', new Blob([oversized]), 'big.png');
    const res = await fetch(`${url}/predict`, { method: 'POST', body: form });
    expect(res.status).toBe(413);
    expect(((await res.json()) as { code: string }).code).toBe('FILE_TOO_LARGE');
  });

  test('a raw socket that sends its whole oversized body reads the 413 (lingering close, no reset)', async () => {
    const { port } = await start();
    const upload = fileUpload(oversized);
    let sent = false;
    const answer = await rawExchange(port, {
      head: `POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: ${upload.headers['content-type']}\r\nTransfer-Encoding: chunked\r\n\r\n`,
      body: () => {
        if (sent) return undefined;
        sent = true;
        return Buffer.from(`${chunked(upload.payload)}0\r\n\r\n`, 'latin1');
      },
    });
    expect(answer.status).toBe(413);
    contract(answer, 'FILE_TOO_LARGE');
  });

  const python = (script: string, url: string): Promise<{ stdout: string }> =>
    run('python3', ['-c', script, url], { encoding: 'utf8', timeout: 30_000 });
  /** Outside CI a missing Python module skips the test; CI installs python3-requests (.ci/run), so there it fails. */
  const hasPython = (module: string): Promise<boolean> =>
    run('python3', ['-c', `import ${module}`]).then(
      () => true,
      (error: unknown) => {
        if (process.env.CI !== undefined)
          throw new Error(`python3 cannot import ${module} in CI, where .ci/run installs it`, { cause: error });
        return false;
      },
    );

  test("Python's http.client reads the 413 of an oversized upload", async (context) => {
    if (!(await hasPython('http.client'))) return context.skip();
    const { url } = await start();
    const script = `
import http.client, sys, urllib.parse
u = urllib.parse.urlparse(sys.argv[1])
body = b'--B\\r\\nContent-Disposition: form-data; name="file"; filename="a.png"\\r\\n\\r\\n' + b'x' * (3 << 20) + b'\\r\\n--B--\\r\\n'
c = http.client.HTTPConnection(u.hostname, u.port, timeout=20)
c.request('POST', '/predict', body=body, headers={'Content-Type': 'multipart/form-data; boundary=B'})
r = c.getresponse()
print(r.status, r.read().decode())`;
    const { stdout } = await python(script, url);
    expect(stdout.slice(0, 3)).toBe('413');
    expect(JSON.parse(stdout.slice(4)).code).toBe('FILE_TOO_LARGE');
  });

  test('Python requests reads the 413 of an oversized upload', async (context) => {
    if (!(await hasPython('requests'))) return context.skip();
    const { url } = await start();
    const script = `
import requests, sys
r = requests.post(sys.argv[1] + '/predict', files={'file': ('a.png', b'x' * (3 << 20))}, timeout=20)
print(r.status_code, r.text)`;
    const { stdout } = await python(script, url);
    expect(stdout.slice(0, 3)).toBe('413');
    expect(JSON.parse(stdout.slice(4)).code).toBe('FILE_TOO_LARGE');
  });
});

describe('timeouts and the connection cap', () => {
  test('a body that stalls gets 408 UPLOAD_TIMEOUT', async () => {
    const { port } = await start({ bodyTimeoutMs: 300 });
    const answer = await rawExchange(port, {
      head: 'POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=B\r\nContent-Length: 100000\r\n\r\n',
      body: (written) => (written > 1000 ? undefined : partHead('B')),
    });
    expect(answer.status).toBe(408);
    contract(answer, 'UPLOAD_TIMEOUT');
  });

  test('headers that never finish get 408 REQUEST_TIMEOUT as JSON', async () => {
    const { port } = await start({ headersTimeoutMs: 300, receiveTimeoutMs: 600 });
    const answer = await rawExchange(port, { head: 'GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ', timeoutMs: 5000 });
    expect(answer.status).toBe(408);
    contract(answer, 'REQUEST_TIMEOUT');
  });

  test('an idle keep-alive connection is closed after the keep-alive timeout', async () => {
    const { port } = await start({ keepAliveTimeoutMs: 200 });
    const t0 = Date.now();
    const answer = await rawExchange(port, { head: 'GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n', timeoutMs: 5000 });
    expect(answer.status).toBe(200);
    // rawExchange returns at the complete answer; wait on a second socket for the server's close instead.
    const socket = connect(port, '127.0.0.1');
    socket.write('GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n');
    socket.resume();
    await new Promise((resolve) => socket.once('close', resolve));
    expect(Date.now() - t0).toBeLessThan(5000);
  });

  test('past --max-connections new connections get 503 TOO_MANY_CONNECTIONS, health probes still 200', async () => {
    const { port } = await start({ maxConnections: 3 });
    const idle = Array.from({ length: 3 }, () => connect(port, '127.0.0.1'));
    await Promise.all(idle.map((socket) => new Promise((resolve) => socket.once('connect', resolve))));
    try {
      const refused = await rawExchange(port, { head: 'GET /config HTTP/1.1\r\nHost: x\r\n\r\n' });
      expect(refused.status).toBe(503);
      contract(refused, 'TOO_MANY_CONNECTIONS');
      expect(refused.headers['retry-after']).toBe('1');
      const probe = await rawExchange(port, { head: 'GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n' });
      expect(probe.status).toBe(200);
    } finally {
      for (const socket of idle) socket.destroy();
    }
  });
});

describe('one error contract for every refusal', () => {
  const cases: [string, number, keyof typeof ERROR_CODES, string][] = [
    [
      'Transfer-Encoding with Content-Length',
      400,
      'BAD_REQUEST',
      'POST /predict HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n',
    ],
    ['an unknown method', 400, 'BAD_REQUEST', 'FOO / HTTP/1.1\r\nHost: x\r\n\r\n'],
    ['a 100 KB query', 431, 'HEADERS_TOO_LARGE', `GET /config?q=${'a'.repeat(100_000)} HTTP/1.1\r\nHost: x\r\n\r\n`],
    ['a URL that is not valid percent-encoding', 400, 'BAD_REQUEST', 'GET /%ff HTTP/1.1\r\nHost: x\r\n\r\n'],
    ['a path that climbs out of the web root', 403, 'FORBIDDEN', 'GET /../package.json HTTP/1.1\r\nHost: x\r\n\r\n'],
    ['an unknown path', 404, 'NOT_FOUND', 'GET /nope HTTP/1.1\r\nHost: x\r\n\r\n'],
    ['GET on the upload route', 405, 'METHOD_NOT_ALLOWED', 'GET /predict HTTP/1.1\r\nHost: x\r\n\r\n'],
    ['POST on a health probe', 405, 'METHOD_NOT_ALLOWED', 'POST /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n'],
    ['garbage instead of HTTP', 400, 'BAD_REQUEST', '\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n'],
  ];
  test.each(cases)('%s is %i %s, logged and counted', async (_name, status, code, head) => {
    const { port, url } = await start();
    const answer: RawAnswer = await rawExchange(port, { head });
    expect(answer.status).toBe(status);
    contract(answer, code);
    expect(answer.headers['content-type']).toMatch(/^application\/json/);
    expect(logs.some((line) => line.code === code)).toBe(true);
    const metrics = await (await fetch(`${url}/metrics`)).text();
    expect(metrics).toMatch(new RegExp(`http_requests_total\\{[^}]*status="${status}"[^}]*\\} 1`));
  });

  test('405 names the methods the path takes in Allow', async () => {
    const { port } = await start();
    expect((await rawExchange(port, { head: 'GET /predict HTTP/1.1\r\nHost: x\r\n\r\n' })).headers.allow).toBe('POST');
    expect((await rawExchange(port, { head: 'DELETE /healthz HTTP/1.1\r\nHost: x\r\n\r\n' })).headers.allow).toBe('GET, HEAD');
  });

  test.each([
    ['a multipart type without a boundary', 'multipart/form-data', (b: Buffer) => b],
    ['the wrong boundary', 'multipart/form-data; boundary=other', (b: Buffer) => b],
    ['no closing boundary', undefined, (b: Buffer) => b.subarray(0, b.length - 20)],
    ['a JSON body under a multipart type', undefined, () => Buffer.from('{"file":"cat.jpg"}')],
  ] as const)('%s is 400 BAD_REQUEST', async (_name, type, mangle) => {
    const { url } = await start();
    const upload = fileUpload(PNG);
    const res = await fetch(`${url}/predict`, {
      method: 'POST',
      headers: { 'content-type': type ?? upload.headers['content-type']! },
      body: new Uint8Array(mangle(upload.payload)),
    });
    expect(res.status).toBe(400);
    expect(((await res.json()) as { code: string }).code).toBe('BAD_REQUEST');
    expect(logs.filter((line) => line.level === 50)).toEqual([]);
  });

  test('a client that hangs up mid-upload is logged at info as CLIENT_ABORTED, with no error line', async () => {
    const { port } = await start();
    const socket = connect(port, '127.0.0.1');
    socket.write(`POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=B\r\nContent-Length: 500000\r\n\r\n`);
    socket.write(partHead('B'));
    socket.write(Buffer.alloc(100_000, 1));
    await new Promise((resolve) => setTimeout(resolve, 200));
    socket.destroy();
    const deadline = Date.now() + 5000;
    while (!logs.some((line) => line.code === 'CLIENT_ABORTED') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    const aborted = logs.find((line) => line.code === 'CLIENT_ABORTED');
    expect(aborted?.level).toBe(30);
    expect(logs.filter((line) => (line.level as number) >= 50)).toEqual([]);
  });
});

describe('options for exposed deployments', () => {
  test('--api-key: inference routes need the Bearer key, health probes and the page do not', async () => {
    const { url } = await start({ apiKey: 's3cret-key' });
    const upload = fileUpload(PNG);
    const post = (authorization?: string): Promise<Response> =>
      fetch(`${url}/predict`, {
        method: 'POST',
        headers: { ...upload.headers, ...(authorization ? { authorization } : {}) },
        body: new Uint8Array(upload.payload),
      });
    const missing = await post();
    expect(missing.status).toBe(401);
    expect(missing.headers.get('www-authenticate')).toMatch(/^Bearer/);
    expect(((await missing.json()) as { code: string }).code).toBe('UNAUTHORIZED');
    expect((await post('Bearer wrong')).status).toBe(401);
    expect((await post('Bearer s3cret-key')).status).toBe(200);
    expect((await fetch(`${url}/healthz`)).status).toBe(200);
    expect((await fetch(`${url}/config`)).status).toBe(200);
  });

  test('--api-key guards gRPC ModelInfer too (authorization metadata), not the health calls', async () => {
    const { grpcClient, codeOf } = await import('../helpers/grpc-client.js');
    const { status } = await import('@grpc/grpc-js');
    await start({ apiKey: 's3cret-key', grpcPort: await freePort() });
    const client = grpcClient(server?.grpcPort ?? 0);
    try {
      expect(await client.call('ServerLive')).toEqual({ live: true });
      const refused = await client.call('ModelInfer', { model_name: 'resnet18' }).catch((error: unknown) => error);
      expect((refused as { code: number }).code).toBe(status.UNAUTHENTICATED);
      expect(codeOf(refused)).toBe('UNAUTHORIZED');
      // With the key the call gets past the check (and fails on its empty inputs instead).
      const admitted = await client
        .call('ModelInfer', { model_name: 'resnet18' }, { authorization: 'Bearer s3cret-key' })
        .catch((e: unknown) => e);
      expect(codeOf(admitted)).not.toBe('UNAUTHORIZED');
    } finally {
      client.close();
    }
  });

  test('--api-key is checked before 100 Continue, so a refused client never sends its body', async () => {
    const { port } = await start({ apiKey: 's3cret-key' });
    const answer = await rawExchange(port, {
      head: 'POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=B\r\nContent-Length: 5000\r\nExpect: 100-continue\r\n\r\n',
    });
    expect(answer.statusLines).toEqual(['HTTP/1.1 401 Unauthorized']);
    contract(answer, 'UNAUTHORIZED');
  });

  test('cross-origin requests are refused by default and allowed for --cors-origin, with a preflight', async () => {
    const upload = fileUpload(PNG);
    const post = (base: string, origin: string): Promise<Response> =>
      fetch(`${base}/predict`, { method: 'POST', headers: { ...upload.headers, origin }, body: new Uint8Array(upload.payload) });
    let { url } = await start();
    const refused = await post(url, 'https://evil.example');
    expect(refused.status).toBe(403);
    expect(refused.headers.get('access-control-allow-origin')).toBeNull();
    expect((await post(url, url)).status).toBe(200); // the page's own origin
    await server?.close();
    ({ url } = await start({ corsOrigins: 'https://app.example' }));
    const allowed = await post(url, 'https://app.example');
    expect(allowed.status).toBe(200);
    expect(allowed.headers.get('access-control-allow-origin')).toBe('https://app.example');
    const preflight = await fetch(`${url}/predict`, {
      method: 'OPTIONS',
      headers: {
        origin: 'https://app.example',
        'access-control-request-method': 'POST',
        'access-control-request-headers': 'authorization',
      },
    });
    expect(preflight.status).toBe(204);
    expect(preflight.headers.get('access-control-allow-headers')).toContain('authorization');
    expect((await post(url, 'https://other.example')).status).toBe(403);
  });

  test('--rate-limit: past N requests a minute an address gets 429 RATE_LIMITED with Retry-After', async () => {
    const { url } = await start({ rateLimit: 2 });
    const upload = fileUpload(PNG);
    const statuses: number[] = [];
    let last: Response | undefined;
    for (let i = 0; i < 3; i++) {
      last = await fetch(`${url}/predict`, { method: 'POST', headers: upload.headers, body: new Uint8Array(upload.payload) });
      statuses.push(last.status);
    }
    expect(statuses).toEqual([200, 200, 429]);
    expect(((await last!.json()) as { code: string }).code).toBe('RATE_LIMITED');
    expect(Number(last!.headers.get('retry-after'))).toBeGreaterThan(0);
    expect((await fetch(`${url}/healthz`)).status).toBe(200);
  });

  test('the page and every answer carry the security headers; the page’s CSP has no unsafe-inline', async () => {
    const { url } = await start();
    for (const path of ['/', '/config', '/nope']) {
      const res = await fetch(`${url}${path}`);
      expect(res.headers.get('x-content-type-options')).toBe('nosniff');
      expect(res.headers.get('referrer-policy')).toBe('no-referrer');
      const csp = res.headers.get('content-security-policy') ?? '';
      expect(csp).toContain("frame-ancestors 'none'");
      expect(csp).not.toContain('unsafe-inline');
    }
  });

  test('a request id is kept when it is a plausible id and replaced otherwise', async () => {
    const { url } = await start();
    const idOf = async (id: string): Promise<string | null> =>
      (await fetch(`${url}/healthz`, { headers: { 'x-request-id': id } })).headers.get('x-request-id');
    expect(await idOf('abc-123.X_y:z')).toBe('abc-123.X_y:z');
    for (const bad of ['<script>alert(1)</script>', 'a'.repeat(65), 'white space']) {
      expect(await idOf(bad)).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    }
  });

  test('/metrics and /docs can be moved or turned off', async () => {
    let { url } = await start({ metricsPath: '/internal/metrics', docsPath: 'off' });
    expect((await fetch(`${url}/metrics`)).status).toBe(404);
    expect((await fetch(`${url}/internal/metrics`)).status).toBe(200);
    expect((await fetch(`${url}/docs`)).status).toBe(404);
    expect((await fetch(`${url}/openapi.json`)).status).toBe(404);
    await server?.close();
    ({ url } = await start({ metricsPath: 'off', docsPath: '/api-docs' }));
    expect((await fetch(`${url}/metrics`)).status).toBe(404);
    expect((await fetch(`${url}/api-docs`)).status).toBe(200);
  });
});

describe('the command', () => {
  test('its #! line starts Node with MALLOC_ARENA_MAX=2 and MALLOC_MMAP_THRESHOLD_=65536 (env -S)', async () => {
    const { chmod, mkdtemp, readFile, writeFile } = await import('node:fs/promises');
    const { tmpdir } = await import('node:os');
    const { join } = await import('node:path');
    const shebang = (await readFile(new URL('../../src/cli.ts', import.meta.url), 'utf8')).split('\n')[0]!;
    const script = join(await mkdtemp(join(tmpdir(), 'shebang-')), 'probe.mjs');
    await writeFile(script, `${shebang}\nconsole.log(process.env.MALLOC_ARENA_MAX, process.env.MALLOC_MMAP_THRESHOLD_);\n`);
    await chmod(script, 0o755);
    const { stdout } = await run(script, [], { encoding: 'utf8', env: { PATH: process.env.PATH ?? '' } });
    expect(stdout.trim()).toBe('2 65536');
  });
});
