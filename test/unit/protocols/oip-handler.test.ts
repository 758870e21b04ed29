/**
 * The Open Inference Protocol's handler core, which the REST routes and the gRPC service both bind: what it
 * checks before it reads a request, and that it records each element once.
 */
import { describe, expect, test } from 'vitest';
import { createServerMetrics } from '../../../src/server/metrics.js';
import { ModelRegistry } from '../../../src/server/model-registry.js';
import { createOipHandler, type InferRequest } from '../../../src/server/protocols/oip/handler.js';
import type { TimingsRecord } from '../../../src/server/take-classifier.js';
import { rejectedError, thrownError } from '../../helpers/errors.js';
import { FakeClassifier, fakeContract, manualLoader } from '../../helpers/fake-classifier.js';

const PNG = Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), Buffer.alloc(64, 1)]);

function images(count: number): InferRequest {
  return {
    id: 'r1',
    inputs: [
      {
        name: 'image',
        datatype: 'BYTES',
        shape: [count],
        parameters: {},
        data: { kind: 'elements', values: Array.from({ length: count }, () => PNG) },
      },
    ],
    outputs: [{ name: 'logits', parameters: {} }],
    binaryOutput: false,
  };
}

async function handler(loaded = true) {
  const loader = manualLoader(new FakeClassifier());
  const metrics = createServerMetrics();
  const models = new ModelRegistry(
    [{ name: 'resnet18', loadClassifier: loader.load }],
    { observer: metrics.observer, maxPixels: 40_000_000, memoryBudgetBytes: 0, loading: 'startup', loadWaitMs: 1000 },
    metrics.models,
  );
  const started = models.start();
  if (loaded) {
    loader.resolve();
    await started;
  }
  const oip = createOipHandler({ models, metrics, serverVersion: '0.1.0', maxInferImages: 8, maxUploadBytes: 1024 });
  return { oip, metrics };
}

describe('the OIP handler core', () => {
  test('infer answers the requested outputs for the named model, with the request id', async () => {
    const { oip } = await handler();
    // The version is the model's own: its weights' (here its file's) SHA-256 prefix.
    const { version } = fakeContract();
    const answer = await oip.infer({ name: 'resnet18', version }, () => images(2));
    expect(answer).toMatchObject({ model_name: 'resnet18', model_version: version, id: 'r1' });
    await expect(oip.infer({ name: 'resnet18', version: '1' }, () => images(2))).rejects.toMatchObject({ code: 'MODEL_NOT_FOUND' });
    expect(answer.outputs.map((o) => [o.name, o.datatype, o.shape])).toEqual([['logits', 'FP32', [2, 1000]]]);
  });

  test('another model, or a model still loading, is refused before the request is read', async () => {
    let reads = 0;
    const read = (): InferRequest => {
      reads++;
      return images(1);
    };
    const ready = await handler();
    expect((await rejectedError(() => ready.oip.infer({ name: 'resnet50', version: undefined }, read))).code).toBe('MODEL_NOT_FOUND');
    const loading = await handler(false);
    expect((await rejectedError(() => loading.oip.infer({ name: 'resnet18', version: undefined }, read))).code).toBe('NOT_READY');
    expect(reads).toBe(0);
  });

  test('each element is observed once in /metrics, and the request log gets the slowest', async () => {
    const { oip, metrics } = await handler();
    const record: TimingsRecord = { classifyTimings: null, modelId: null };
    await oip.infer({ name: 'resnet18', version: undefined }, () => images(3), record);
    expect(await metrics.registry.getSingleMetricAsString('resnet_classify_total_ms')).toContain('resnet_classify_total_ms_count 3');
    expect(record.classifyTimings).toEqual({ decode: 1, inference: 2, total: 3 });
    expect(record.modelId).toBe(fakeContract().id);
  });

  test('readiness says why it is not ready; model routes check the model first', async () => {
    const loading = await handler(false);
    const readiness = loading.oip.serverReady();
    expect(readiness.ready).toBe(false);
    if (!readiness.ready) expect(readiness.reason.code).toBe('NOT_READY');
    expect(thrownError(() => loading.oip.modelReady({ name: 'resnet50', version: undefined })).code).toBe('MODEL_NOT_FOUND');
    const ready = await handler();
    expect(ready.oip.serverReady()).toEqual({ ready: true });
    expect(ready.oip.modelMetadata({ name: 'resnet18', version: fakeContract().version }).name).toBe('resnet18');
  });
});
