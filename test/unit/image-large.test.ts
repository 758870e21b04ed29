import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { preprocess } from '../../src/image/index.js';
import { IMAGENET_RECIPE } from '../../src/image/recipe.js';
import { pixelDifference, readReferencePng } from './image-reference.js';

/**
 * Camera-sized JPEGs (12 MP) are too large to commit; `make_image_fixtures.py --big` writes them and their
 * PIL references to test/.tmp/images-big/. Without them this file is skipped.
 */
const BIG = fileURLToPath(new URL('../.tmp/images-big/', import.meta.url));
const available = existsSync(`${BIG}references.json`);
const entries: { file: string; reference: string }[] = available
  ? (JSON.parse(readFileSync(`${BIG}references.json`, 'utf8')) as { fixtures: { file: string; reference: string }[] }).fixtures
  : [];

describe.skipIf(!available)('camera-sized JPEGs (generated with make_image_fixtures.py --big)', () => {
  it.each(entries.map((e) => [e.file, e] as const))('%s stays within mean |Δ| ≤ 0.5/255 of torchvision + PIL', async (_name, entry) => {
    const bytes = new Uint8Array(readFileSync(BIG + entry.file));
    const reference = readReferencePng(entry.reference, BIG).rgb;
    const tensor = await preprocess(bytes);
    const diff = pixelDifference(tensor, 0, reference, IMAGENET_RECIPE.mean, IMAGENET_RECIPE.std);
    const times: number[] = [];
    for (let i = 0; i < 3; i++) {
      const start = performance.now();
      await preprocess(bytes);
      times.push(performance.now() - start);
    }
    console.info(
      `${entry.file}: mean |Δ| ${(diff.mean * 255).toFixed(3)}/255, max ${(diff.max * 255).toFixed(1)}/255, ` +
        `best of 3: ${Math.min(...times).toFixed(1)} ms (information only)`,
    );
    expect(diff.mean).toBeLessThanOrEqual(0.5 / 255);
  });
});
