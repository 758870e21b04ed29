/**
 * A resnet-serve server in its own process, for tests that need a separate process: RSS, /healthz
 * latency with the event loop not shared with the test's clients, and SIGTERM. Runs the real classifier
 * on the synthetic full-width ResNet-18. Bundled and spawned by spawn-server.ts; configured by env:
 * RS_MAX_QUEUE, RS_MAX_BATCH, RS_MAX_CONNECTIONS, RS_WEB_ROOT, RS_LOG_LEVEL; with RS_BUG_ON_SIGUSR2=1, SIGUSR2 makes a
 * timer throw (a stand-in for a bug) and a promise reject, for the last-resort handler. Prints {"listening": url} on stdout.
 */
import type { IncomingMessage } from 'node:http';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { readModelContract } from '../../src/model/read-contract.js';
import { installShutdownHandlers, startServer } from '../../src/server/start.js';
import { realLoader, syntheticModel } from './synthetic-model.js';

// `gc` exposed as the resnet-serve command exposes it (src/cli.ts), so the server's memory behaves the same.
setFlagsFromString('--expose-gc');
globalThis.gc ??= runInNewContext('gc') as NodeJS.GCFunction;

const env = process.env;
const handle = await startServer({
  host: '127.0.0.1',
  port: 0,
  // Known before it loads, as `serve` knows it: the request bounds follow its 224 px input, not the largest recipe's.
  model: await readModelContract(syntheticModel()),
  loadClassifier: realLoader({
    maxQueue: env.RS_MAX_QUEUE === undefined ? undefined : Number(env.RS_MAX_QUEUE),
    maxBatch: env.RS_MAX_BATCH === undefined ? undefined : Number(env.RS_MAX_BATCH),
  }),
  logger: { level: env.RS_LOG_LEVEL ?? 'info' },
  ...(env.RS_MAX_CONNECTIONS === undefined ? {} : { maxConnections: Number(env.RS_MAX_CONNECTIONS) }),
  ...(env.RS_WEB_ROOT === undefined ? {} : { webRoot: env.RS_WEB_ROOT }),
});
installShutdownHandlers(handle);
// A signal tests can wait on instead of sleeping: a line as soon as a request's headers have arrived.
handle.app.server.on('request', (request: IncomingMessage) => {
  process.stdout.write(`${JSON.stringify({ requestStarted: request.url })}\n`);
});
if (env.RS_BUG_ON_SIGUSR2 === '1') {
  process.on('SIGUSR2', () => {
    setTimeout(() => {
      throw new Error('a bug in a timer');
    });
    void Promise.reject(new Error('a bug in a promise'));
  });
}
process.stdout.write(`${JSON.stringify({ listening: handle.url })}\n`);
