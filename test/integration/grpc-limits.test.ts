/**
 * The gRPC service's bounds on a real port (issue 19): the receive limit from the settings, streams per
 * connection, ModelInfer calls in progress, and the wait for a call's message. Each refusal carries the gRPC
 * status and, where the server words it, the registry code; the service answers again right after.
 */
import { connect } from 'node:http2';
import { Client, credentials, Metadata, type ServiceError, status } from '@grpc/grpc-js';
import { afterEach, describe, expect, test } from 'vitest';
import { grpcReceiveLimit, resolveServerOptions } from '../../src/server/options.js';
import { type ServerHandle, type StartOptions, startServer } from '../../src/server/start.js';
import { FakeClassifier } from '../helpers/fake-classifier.js';
import { codeOf, grpcClient } from '../helpers/grpc-client.js';
import { freePort } from '../helpers/ports.js';
import { delimited, REQUEST, rawGrpcClient } from '../helpers/protobuf-wire.js';

const MODEL_INFER = '/inference.GRPCInferenceService/ModelInfer';
let server: ServerHandle | undefined;
const closers: (() => void)[] = [];
afterEach(async () => {
  for (const close of closers.splice(0)) close();
  await server?.close();
  server = undefined;
});

async function start(options: Partial<StartOptions>): Promise<number> {
  server = await startServer({
    port: 0,
    grpcPort: await freePort(),
    logger: false,
    loadClassifier: async () => new FakeClassifier(),
    ...options,
  });
  await server.ready;
  return server.grpcPort ?? 0;
}

/** A ModelInfer call whose headers are sent and whose message never is: it stays in progress on the server. */
function heldCall(port: number): { ended: Promise<ServiceError>; cancel(): void } {
  const client = new Client(`127.0.0.1:${port}`, credentials.createInsecure());
  closers.push(() => client.close());
  const identity = (bytes: Buffer): Buffer => bytes;
  let cancel = (): void => undefined;
  const ended = new Promise<ServiceError>((resolve) => {
    const call = client.makeClientStreamRequest(MODEL_INFER, identity, identity, new Metadata(), {}, (error) =>
      resolve(error as ServiceError),
    );
    cancel = () => call.cancel();
  });
  return { ended, cancel };
}

describe('the gRPC receive limit', () => {
  test('defaults to the largest valid request: --max-infer-images × (--max-upload + 4) + 64 KiB', () => {
    const loadClassifier = async () => new FakeClassifier();
    expect(resolveServerOptions({ loadClassifier }).grpcMaxReceiveBytes).toBe(8 * (10 * 1024 * 1024 + 4) + 64 * 1024);
    expect(resolveServerOptions({ loadClassifier, maxInferImages: 2, maxUploadBytes: 1000 }).grpcMaxReceiveBytes).toBe(2 * 1004 + 65_536);
    expect(resolveServerOptions({ loadClassifier, grpcMaxReceiveBytes: 4096 }).grpcMaxReceiveBytes).toBe(4096);
    expect(grpcReceiveLimit({ maxInferImages: 1, maxUploadBytes: 0 })).toBe(4 + 65_536);
  });

  test('refuses a larger message RESOURCE_EXHAUSTED, and the service answers after', async () => {
    const port = await start({ grpcMaxReceiveBytes: 4096 });
    const raw = rawGrpcClient(port);
    closers.push(() => raw.close());
    const error = await raw
      .modelInfer(Buffer.concat([delimited(REQUEST.modelName, 'resnet18'), delimited(REQUEST.rawInputContents, Buffer.alloc(5000))]))
      .catch((e: unknown) => e);
    expect((error as ServiceError).code).toBe(status.RESOURCE_EXHAUSTED);
    const client = grpcClient(port);
    closers.push(() => client.close());
    expect(await client.call('ServerLive')).toEqual({ live: true });
  });
});

describe('gRPC calls in progress', () => {
  test('past --grpc-max-calls, ModelInfer is refused RESOURCE_EXHAUSTED with QUEUE_FULL; health calls still answer', async () => {
    const port = await start({ grpcMaxCalls: 1 });
    const held = heldCall(port);
    const client = grpcClient(port);
    closers.push(() => client.close());
    // The held call's headers reach the server before the next call's: wait until a second call is refused.
    let error: unknown = {};
    for (let attempt = 0; attempt < 50 && codeOf(error) !== 'QUEUE_FULL'; attempt++) {
      error = await client.call('ModelInfer', { model_name: 'resnet18' }).catch((e: unknown) => e);
    }
    expect((error as ServiceError).code).toBe(status.RESOURCE_EXHAUSTED);
    expect(codeOf(error)).toBe('QUEUE_FULL');
    expect(await client.call('ServerLive')).toEqual({ live: true });
    held.cancel();
    expect((await held.ended).code).toBe(status.CANCELLED);
    // The held call's slot is free again: the next ModelInfer reaches the handler (and fails for its empty request).
    const next = await client.call('ModelInfer', { model_name: 'resnet18' }).catch((e: unknown) => e);
    expect(codeOf(next)).toBe('INVALID_ARGUMENT');
  });

  test('a call whose message does not arrive within --receive-timeout ends DEADLINE_EXCEEDED with REQUEST_TIMEOUT', async () => {
    const port = await start({ grpcMaxCalls: 1, headersTimeoutMs: 100, receiveTimeoutMs: 300 });
    const error = await heldCall(port).ended;
    expect(error.code).toBe(status.DEADLINE_EXCEEDED);
    expect(codeOf(error)).toBe('REQUEST_TIMEOUT');
    const client = grpcClient(port);
    closers.push(() => client.close());
    expect(codeOf(await client.call('ModelInfer', { model_name: 'resnet18' }).catch((e: unknown) => e))).toBe('INVALID_ARGUMENT');
  });

  test('--grpc-max-streams is the connection’s HTTP/2 SETTINGS_MAX_CONCURRENT_STREAMS', async () => {
    const port = await start({ grpcMaxStreams: 3 });
    const session = connect(`http://127.0.0.1:${port}`);
    closers.push(() => session.destroy());
    const settings = await new Promise<{ maxConcurrentStreams?: number }>((resolve) => session.once('remoteSettings', resolve));
    expect(settings.maxConcurrentStreams).toBe(3);
  });
});
