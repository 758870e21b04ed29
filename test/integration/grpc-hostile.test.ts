/**
 * ModelInfer requests built to exhaust the server's heap (issue 19), sent as raw protobuf bytes to a server
 * in its own process on 127.0.0.1 (the real classifier on the synthetic ResNet-18), so a crash ends that
 * process and not the test. Each must be refused with a clear status and the registry code in the
 * `resnet-serve-code` trailer, the process must stay alive, and a legitimate ModelInfer must be answered
 * right after. The child runs with a 512 MiB old space, a container-sized heap, so that a decoder which
 * materialises the field dies every time rather than only on a small machine.
 */
import { readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { status } from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { CLI, type CliProcess, startCli } from '../helpers/cli-process.js';
import { codeOf, type GrpcClient, grpcClient } from '../helpers/grpc-client.js';
import { freePort } from '../helpers/ports.js';
import { CONTENTS, delimited, INPUT, inputTensor, type RawGrpcClient, REQUEST, rawGrpcClient } from '../helpers/protobuf-wire.js';
import { waitUntilReady } from '../helpers/spawn-server.js';
import { syntheticModel } from '../helpers/synthetic-model.js';
import { serializeByteTensor } from '../helpers/tritonclient.js';

const IMAGE = readFileSync(join(import.meta.dirname, '..', 'fixtures', 'images', 'tiny-150x100.png'));

let dir: string;
let server: CliProcess;
let raw: RawGrpcClient;
let grpc: GrpcClient;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'resnet-serve-grpc-hostile-'));
  const model = join(dir, 'synthetic-resnet18.onnx');
  await writeFile(model, syntheticModel());
  const grpcPort = await freePort();
  server = startCli([CLI, 'serve', '--port', '0', '--grpc-port', String(grpcPort), '--threads', '1', '--model-name', 'resnet18'], {
    PATH: process.env.PATH ?? '',
    RESNET_SERVE_MODEL: model,
    RESNET_SERVE_HOME: join(dir, 'home'),
    NODE_OPTIONS: '--max-old-space-size=512',
  });
  await waitUntilReady(await server.url, 120_000);
  raw = rawGrpcClient(grpcPort);
  grpc = grpcClient(grpcPort);
}, 180_000);

afterAll(async () => {
  raw?.close();
  grpc?.close();
  if (server !== undefined && server.child.exitCode === null) {
    server.child.kill('SIGTERM');
    await server.exited;
  }
  await rm(dir, { recursive: true, force: true });
});

const modelInfer = (...inputs: Buffer[]): Buffer =>
  Buffer.concat([delimited(REQUEST.modelName, 'resnet18'), ...inputs.map((input) => delimited(REQUEST.inputs, input))]);

/** ~80 M one-byte varints: an 80 MB packed `shape`, under the default receive limit (8 × 10 MiB + headers). */
function hugeShape(): Buffer {
  const dims = Buffer.alloc(80_000_000, 1);
  return modelInfer(Buffer.concat([delimited(INPUT.name, 'input'), delimited(INPUT.datatype, 'FP32'), delimited(INPUT.shape, dims)]));
}

/** ~20 M packed floats in `fp32_contents` (80 MB) for one [1, 3, 224, 224] tensor, which takes 150 528. */
function hugeFp32Contents(): Buffer {
  return modelInfer(
    inputTensor('input', 'FP32', [1, 3, 224, 224], delimited(INPUT.contents, delimited(CONTENTS.fp32, Buffer.alloc(80_000_000)))),
  );
}

async function expectRefused(bytes: Buffer, grpcStatus: status, code: string): Promise<void> {
  const error = await raw.modelInfer(bytes).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error, 'the call must fail').toBeDefined();
  expect((error as { code: number }).code, `the status; the server's stderr:\n${server.stderr().slice(-1500)}`).toBe(grpcStatus);
  expect(codeOf(error)).toBe(code);
}

async function expectAliveAndServing(): Promise<void> {
  expect(server.child.exitCode, `the server process is alive; its stderr:\n${server.stderr().slice(-2000)}`).toBeNull();
  const answer = await grpc.call<{ outputs: { name: string; shape: number[] }[] }>('ModelInfer', {
    model_name: 'resnet18',
    inputs: [{ name: 'image', shape: [1], datatype: 'BYTES' }],
    outputs: [{ name: 'probabilities' }],
    raw_input_contents: [serializeByteTensor([IMAGE])],
  });
  expect(answer.outputs[0]).toMatchObject({ name: 'probabilities', shape: [1, 1000] });
}

describe('hostile ModelInfer requests', { timeout: 120_000 }, () => {
  test('a shape of 80 M dims is refused INVALID_ARGUMENT before it is decoded', async () => {
    await expectRefused(hugeShape(), status.INVALID_ARGUMENT, 'INVALID_ARGUMENT');
    await expectAliveAndServing();
  });

  test('20 M fp32_contents for a [1, 3, 224, 224] shape are refused INVALID_ARGUMENT before they are decoded', async () => {
    await expectRefused(hugeFp32Contents(), status.INVALID_ARGUMENT, 'INVALID_ARGUMENT');
    await expectAliveAndServing();
  });
});
