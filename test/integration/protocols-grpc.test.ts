/**
 * The gRPC service's life with the server: off unless asked for, UNAVAILABLE before the model is ready,
 * and stopped by the server's close(). Answers and errors of a ready server are in protocols-network.test.ts.
 */
import { createServer } from 'node:net';
import { status } from '@grpc/grpc-js';
import { afterEach, describe, expect, test } from 'vitest';
import { type ServerHandle, startServer } from '../../src/server/start.js';
import { FakeClassifier, manualLoader } from '../helpers/fake-classifier.js';
import { codeOf, grpcClient } from '../helpers/grpc-client.js';

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as { port: number };
      probe.close(() => resolve(port));
    });
  });
}

let server: ServerHandle | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

describe('the gRPC service', () => {
  test('is off by default', async () => {
    server = await startServer({ port: 0, logger: false, loadClassifier: async () => new FakeClassifier() });
    expect(server.grpcPort).toBeUndefined();
  });

  test('before the model is ready: live, not ready, and ModelInfer UNAVAILABLE with NOT_READY', async () => {
    const loader = manualLoader(new FakeClassifier());
    server = await startServer({ port: 0, grpcPort: await freePort(), logger: false, loadClassifier: loader.load });
    const client = grpcClient(server.grpcPort ?? 0);
    try {
      expect(await client.call('ServerLive')).toEqual({ live: true });
      expect(await client.call('ServerReady')).toEqual({ ready: false });
      expect(await client.call('ModelReady', { name: 'resnet18' })).toEqual({ ready: false });
      const error = await client.call('ModelInfer', { model_name: 'resnet18' }).catch((e: unknown) => e);
      expect((error as { code: number }).code).toBe(status.UNAVAILABLE);
      expect(codeOf(error)).toBe('NOT_READY');
      loader.resolve();
      await server.ready;
      expect(await client.call('ServerReady')).toEqual({ ready: true });
    } finally {
      client.close();
    }
  });

  test('a port already taken fails the start with PORT_IN_USE', async () => {
    const holder = createServer();
    await new Promise<void>((resolve) => holder.listen(0, '127.0.0.1', resolve));
    const { port } = holder.address() as { port: number };
    try {
      await expect(
        startServer({ port: 0, grpcPort: port, logger: false, loadClassifier: async () => new FakeClassifier() }),
      ).rejects.toMatchObject({
        code: 'PORT_IN_USE',
      });
    } finally {
      holder.close();
    }
  });

  test('stops with the server: a call after close() fails UNAVAILABLE', async () => {
    server = await startServer({ port: 0, grpcPort: await freePort(), logger: false, loadClassifier: async () => new FakeClassifier() });
    await server.ready;
    const client = grpcClient(server.grpcPort ?? 0);
    try {
      expect(await client.call('ServerLive')).toEqual({ live: true });
      await server.close();
      server = undefined;
      const error = await client.call('ServerLive').catch((e: unknown) => e);
      expect((error as { code: number }).code).toBe(status.UNAVAILABLE);
    } finally {
      client.close();
    }
  });
});
