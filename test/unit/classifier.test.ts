import { readFileSync } from 'node:fs';
import sharp from 'sharp';
import { afterEach, describe, expect, it } from 'vitest';
import type { Classifier } from '../../src/classifier/index.js';
import { createClassifier } from '../../src/classifier/index.js';
import type { Prediction } from '../../src/labels/types.js';
import { convertToOnnx } from '../../src/model/architectures/resnet.js';
import { readSafetensors } from '../../src/weights/safetensors.js';

const model = convertToOnnx(readSafetensors(readFileSync(new URL('../fixtures/model/tiny-resnet18.safetensors', import.meta.url))));
const image = (name: string): Buffer => readFileSync(new URL(`../fixtures/images/${name}`, import.meta.url));
const photos = ['photo-500x375.jpg', 'alpha-260x230.png', 'gray-320x240.jpg', 'portrait-301x477.jpg', 'palette-300x260.png'].map(image);

let classifier: Classifier | undefined;
afterEach(async () => {
  await classifier?.close();
  classifier = undefined;
});

describe('createClassifier', () => {
  it('answers each image exactly as it is answered alone, whatever else is in flight', async () => {
    classifier = await createClassifier({ model, threads: 1, maxBatch: 4 });
    const alone: Prediction[][] = [];
    for (const photo of photos) alone.push((await classifier.classify(photo, { topK: 5 })).predictions);
    const together = await Promise.all(photos.flatMap((photo) => [photo, photo]).map((p) => classifier!.classify(p, { topK: 5 })));
    together.forEach((result, i) => {
      const expected = alone[Math.floor(i / 2)]!;
      expect(result.predictions.map((p) => p.index)).toEqual(expected.map((p) => p.index));
      for (const [k, p] of result.predictions.entries()) expect(p.probability).toBeCloseTo(expected[k]!.probability, 5);
    });
  });

  it('decodes one image over 4 MP at a time, small ones beside it, and answers them all', async () => {
    // 2600×1600 = 4.16 MP: over the large-image threshold; a smooth gradient, so the JPEG stays small.
    const pixels = new Uint8Array(2600 * 1600 * 3);
    for (let i = 0; i < pixels.length; i++) pixels[i] = (i % 7800) >> 5;
    const big = await sharp(pixels, { raw: { width: 2600, height: 1600, channels: 3 } })
      .jpeg({ quality: 80 })
      .toBuffer();
    const decodes: { pixels: number; decodingNow: number; largeNow: number }[] = [];
    const observer = {
      onDecodeStart: (pixels: number, decodingNow: number, largeNow: number) => decodes.push({ pixels, decodingNow, largeNow }),
    };
    classifier = await createClassifier({ model, threads: 1, maxBatch: 4, decodeConcurrency: 2, observer });
    const inputs = [big, photos[0]!, photos[1]!, big, photos[2]!, photos[3]!, photos[4]!];
    const alone: Prediction[][] = [];
    for (const input of inputs) alone.push((await classifier.classify(input)).predictions);
    decodes.length = 0;
    const together = await Promise.all(inputs.map((input) => classifier!.classify(input)));
    for (const [i, result] of together.entries()) expect(result.predictions.map((p) => p.index)).toEqual(alone[i]!.map((p) => p.index));
    // Never two large decodes at once; the two decode slots were both used (so the observation can tell).
    const large = decodes.filter((d) => d.pixels > 4_000_000);
    expect(large).toHaveLength(2);
    expect(Math.max(...decodes.map((d) => d.largeNow))).toBe(1);
    expect(Math.max(...decodes.map((d) => d.decodingNow))).toBe(2);
  });

  it('reports timings and the batch sizes it ran', async () => {
    const batches: number[] = [];
    classifier = await createClassifier({ model, threads: 1, maxBatch: 4, observer: { onBatch: (size) => batches.push(size) } });
    const results = await Promise.all(photos.map((p) => classifier!.classify(p)));
    for (const { timings_ms: t } of results) {
      expect(t.decode).toBeGreaterThan(0);
      expect(t.inference).toBeGreaterThan(0);
      expect(t.total).toBeGreaterThanOrEqual(t.decode);
    }
    expect(batches.reduce((a, b) => a + b, 0)).toBe(photos.length);
    expect(Math.max(...batches)).toBeLessThanOrEqual(4);
  });

  it('refuses requests beyond maxQueue with QUEUE_FULL and still answers the rest', async () => {
    classifier = await createClassifier({ model, threads: 1, maxQueue: 3 });
    const settled = await Promise.allSettled(Array.from({ length: 10 }, (_, i) => classifier!.classify(photos[i % photos.length]!)));
    const refused = settled.filter((s) => s.status === 'rejected');
    expect(settled.filter((s) => s.status === 'fulfilled')).toHaveLength(3);
    for (const r of refused) expect((r as PromiseRejectedResult).reason).toMatchObject({ code: 'QUEUE_FULL' });
    expect(classifier.queueDepth()).toBe(0);
  });

  it('gives bad images their codes without losing pool slots', async () => {
    classifier = await createClassifier({ model, threads: 1, maxBatch: 1, decodeConcurrency: 1 });
    const bad = ['truncated.jpg', 'text.jpg', 'empty.jpg', 'huge-header-30000x30000.png', 'garbage-middle.jpg'].map(image);
    const settled = await Promise.allSettled(Array.from({ length: 20 }, (_, i) => classifier!.classify(bad[i % bad.length]!)));
    expect(settled.every((s) => s.status === 'rejected')).toBe(true);
    const codes = new Set(settled.map((s) => ((s as PromiseRejectedResult).reason as { code: string }).code));
    expect(codes).toEqual(new Set(['IMAGE_CORRUPT', 'UNSUPPORTED_MEDIA_TYPE', 'FILE_EMPTY', 'IMAGE_TOO_LARGE']));
    // Every slot came back: a burst larger than the pool still completes.
    await expect(Promise.all(photos.map((p) => classifier!.classify(p)))).resolves.toHaveLength(photos.length);
  });

  it('refuses BMP and HEIC, recognised but not decodable, before they take a queue place or a decode slot', async () => {
    const depths: number[] = [];
    const decodes: number[] = [];
    const observer = { onQueueDepth: (depth: number) => depths.push(depth), onDecodeStart: (pixels: number) => decodes.push(pixels) };
    classifier = await createClassifier({ model, threads: 1, maxQueue: 1, observer });
    const heic = new Uint8Array(64);
    heic.set(Buffer.from('\0\0\0\x18ftypheic\0\0\0\0mif1heic', 'latin1'));
    // The one queue place is the photo's: were the others admitted, they would be refused QUEUE_FULL instead.
    const photo = classifier.classify(photos[0]!);
    for (const [bytes, format] of [
      [image('bmp-64x48.bmp'), 'bmp'],
      [heic, 'heic'],
    ] as const) {
      await expect(classifier.classify(bytes)).rejects.toMatchObject({ code: 'UNSUPPORTED_MEDIA_TYPE', details: { format } });
      await expect(classifier.infer(bytes)).rejects.toMatchObject({ code: 'UNSUPPORTED_MEDIA_TYPE', details: { format } });
    }
    await photo;
    // Only the photo came in, decoded and left.
    expect(depths).toEqual([1, 0]);
    expect(decodes).toEqual([500 * 375]);
  });

  it('refuses an image whose decode alone needs more than decodeBudgetBytes with IMAGE_OVER_BUDGET, and decodes the rest', async () => {
    // 1 MiB budget: the 500×375 JPEG needs 562 500 bytes of RGB, the 260×230 RGBA PNG 239 200; an opaque
    // 1000×1000 PNG needs 3 000 000.
    classifier = await createClassifier({ model, threads: 1, decodeBudgetBytes: 1024 * 1024 });
    const big = await sharp({ create: { width: 1000, height: 1000, channels: 3, background: { r: 9, g: 99, b: 199 } } })
      .png()
      .toBuffer();
    const refused = await classifier.classify(big).catch((error: { code: string; details: unknown }) => error);
    expect(refused).toMatchObject({ code: 'IMAGE_OVER_BUDGET', details: { decodedBytes: 3_000_000, decodeBudgetBytes: 1024 * 1024 } });
    // Several that fit only one or two at a time still all decode: they wait for the budget, in order.
    await expect(Promise.all([photos[0]!, photos[0]!, photos[1]!, photos[0]!].map((p) => classifier!.classify(p)))).resolves.toHaveLength(
      4,
    );
  });

  it('fails requests that waited past requestTimeoutMs with TIMEOUT', async () => {
    classifier = await createClassifier({ model, threads: 1, maxBatch: 1, requestTimeoutMs: 1 });
    const settled = await Promise.allSettled(Array.from({ length: 12 }, () => classifier!.classify(photos[0]!)));
    const codes = settled.map((s) => (s.status === 'rejected' ? (s.reason as { code: string }).code : 'ok'));
    expect(codes).toContain('TIMEOUT');
  });

  it('close() answers what is in flight, then refuses with NOT_READY', async () => {
    classifier = await createClassifier({ model, threads: 1 });
    const inFlight = photos.map((p) => classifier!.classify(p));
    await classifier.close();
    await expect(Promise.all(inFlight)).resolves.toHaveLength(photos.length);
    await expect(classifier.classify(photos[0]!)).rejects.toMatchObject({ code: 'NOT_READY' });
  });

  it('rejects a topK outside 1..classes with INVALID_ARGUMENT', async () => {
    classifier = await createClassifier({ model, threads: 1 });
    await expect(classifier.classify(photos[0]!, { topK: 11 })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
  });
});
