/**
 * SIGTERM on a real server process (test/helpers/server-process.ts, real classifier): it stops accepting,
 * lets the in-flight upload finish with a real answer, closes the classifier and exits 0. A bug (an uncaught
 * exception, an unhandled rejection) takes the same path, and exits 1.
 */
import { request } from 'node:http';
import { afterEach, expect, test } from 'vitest';
import { multipartBody } from '../helpers/multipart.js';
import { type ChildServer, spawnServer, waitUntilReady } from '../helpers/spawn-server.js';
import { noiseJpeg } from '../helpers/test-images.js';
import { waitFor } from '../helpers/wait.js';

let server: ChildServer | undefined;
afterEach(() => server?.kill());

/**
 * Sends the headers and half the body of an upload, so the request is in flight on the server when `stop` sends
 * its signal; the rest is sent once the listener is closed. Resolves with the answer.
 */
async function uploadAcrossShutdown(
  running: ChildServer,
  stop: () => void,
  drainingLine: (line: Record<string, unknown>) => boolean,
): Promise<{ status: number; connection: string | undefined; body: string }> {
  const body = multipartBody([{ name: 'file', filename: 'cat.jpg', data: await noiseJpeg(42, 320, 240) }]);
  const half = Math.floor(body.payload.length / 2);
  const answer = new Promise<{ status: number; connection: string | undefined; body: string }>((resolve, reject) => {
    const req = request(`${running.url}/predict`, { method: 'POST', headers: body.headers }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (text += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, connection: res.headers.connection, body: text }));
    });
    req.on('error', reject);
    req.write(body.payload.subarray(0, half));
    void (async () => {
      await running.waitForLine(drainingLine);
      // The listener closes right after the signal; the upload in flight must still be answered.
      await expect(refused(running.url)).resolves.toBe(true);
      req.end(body.payload.subarray(half));
    })().catch(reject);
  });
  await running.waitForLine((line) => line.requestStarted === '/predict');
  stop();
  return answer;
}

test('SIGTERM during an in-flight upload: the upload gets its 200, new connections are refused, exit code 0', async () => {
  server = await spawnServer({ RS_LOG_LEVEL: 'info' });
  await waitUntilReady(server.url);
  const running = server;
  const res = await uploadAcrossShutdown(
    running,
    () => running.process.kill('SIGTERM'),
    (line) => String(line.msg).startsWith('shutting down'),
  );
  expect(res.status).toBe(200);
  expect(JSON.parse(res.body).predictions).toHaveLength(3);
  expect(res.connection).toBe('close');
  expect(await server.exited).toBe(0);
  expect(server.lines.some((line) => line.msg === 'shutdown complete')).toBe(true);
});

test('an uncaught exception during an in-flight upload: logged as fatal, the upload gets its 200, then exit code 1', async () => {
  server = await spawnServer({ RS_LOG_LEVEL: 'info', RS_BUG_ON_SIGUSR2: '1' });
  await waitUntilReady(server.url);
  const running = server;
  const res = await uploadAcrossShutdown(
    running,
    () => running.process.kill('SIGUSR2'),
    (line) => line.level === 60,
  );
  expect(res.status).toBe(200);
  expect(JSON.parse(res.body).predictions).toHaveLength(3);
  expect(await server.exited).toBe(1);
  const fatal = server.lines.filter((line) => line.level === 60);
  // The timer's exception and the promise's rejection, each logged with where it came from.
  expect(fatal.map((line) => line.origin).sort()).toEqual(['uncaughtException', 'unhandledRejection']);
  expect(server.lines.some((line) => line.msg === 'shutdown complete')).toBe(true);
});

test('SIGINT while idle exits 0 promptly', async () => {
  server = await spawnServer({ RS_LOG_LEVEL: 'info' });
  await waitUntilReady(server.url);
  server.process.kill('SIGINT');
  expect(await server.exited).toBe(0);
});

/** True once a new connection to `url` is refused (polls for up to 2 s while the listener closes). */
async function refused(url: string): Promise<boolean> {
  const isRefused = async (): Promise<boolean> => {
    const error = await fetch(`${url}/healthz`).then(
      () => undefined,
      (e: unknown) => e as { cause?: { code?: string } },
    );
    return error?.cause?.code === 'ECONNREFUSED';
  };
  return waitFor('the listener to close', isRefused, 2000, 50).then(
    () => true,
    () => false,
  );
}
