/** `resnet-serve eval` and `classify --explain` as a user runs them (dist/cli.js), on the trained shapes fixture. */

import { execFile } from 'node:child_process';
import { mkdirSync, readFileSync } from 'node:fs';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gunzipSync } from 'node:zlib';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cropBox } from '../../src/image/recipe-geometry.js';
import { loadShapesFixture } from '../helpers/int8-fixture.js';

const CLI = fileURLToPath(new URL('../../dist/cli.js', import.meta.url));
const SHAPES = fileURLToPath(new URL('../fixtures/int8/shapes-resnet18.safetensors', import.meta.url));
const reference = JSON.parse(readFileSync(new URL('../fixtures/cam/shapes-eval.json', import.meta.url), 'utf8')) as {
  images: number;
  top1Correct: number;
  top5Correct: number;
};

function run(args: string[], env: Record<string, string>): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [CLI, ...args], { env: { ...process.env, ...env }, timeout: 120_000 }, (error, stdout, stderr) => {
      resolve({ code: error === null ? 0 : typeof error.code === 'number' ? error.code : 1, stdout, stderr });
    });
  });
}

let dir: string;
let env: Record<string, string>;
let heldout: string;
const shapes = loadShapesFixture();

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'resnet-serve-eval-'));
  env = { RESNET_SERVE_HOME: join(dir, 'home') };
  // The held-out set as a user would hand it over: 32×32 PNG files in one folder per class index.
  heldout = join(dir, 'heldout');
  const raw = gunzipSync(readFileSync(new URL('../fixtures/int8/heldout.u8.gz', import.meta.url)));
  const side = shapes.imageSize;
  for (let i = 0; i < shapes.heldoutCount; i++) {
    const folder = join(heldout, String(shapes.heldoutLabels[i]));
    mkdirSync(folder, { recursive: true });
    const pixels = raw.subarray(i * side * side * 3, (i + 1) * side * side * 3);
    await sharp(pixels, { raw: { width: side, height: side, channels: 3 } })
      .png()
      .toFile(join(folder, `${String(i).padStart(3, '0')}.png`));
  }
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('resnet-serve eval', () => {
  it('--compare int8 --json: PyTorch’s accuracy for fp32, int8 beside it, and their agreement', async () => {
    const { code, stdout, stderr } = await run(['eval', '--weights', SHAPES, '--compare', 'int8', '--json', heldout], env);
    expect(code, stderr).toBe(0);
    const report = JSON.parse(stdout);
    expect(report.layout).toBe('index-folders');
    // Each named by its model id and precision: the same weights, so the same id.
    const [fp32Name, int8Name] = report.models.map((m: { name: string }) => m.name);
    expect(fp32Name).toMatch(/^resnet18-[0-9a-f]{8} fp32$/);
    expect(int8Name).toBe(fp32Name.replace(/fp32$/, 'int8'));
    const [fp32, int8] = report.models.map((m: { accuracy: { top1: { correct: number }; top5: { correct: number } } }) => m.accuracy);
    expect(fp32.top1.correct).toBe(reference.top1Correct);
    expect(fp32.top5.correct).toBe(reference.top5Correct);
    expect(int8.top1.correct).toBeGreaterThanOrEqual(reference.top1Correct - 3);
    expect(report.comparison.agreement.total).toBe(reference.images);
    expect(report.unreadable).toEqual([]);
  });

  it('prints the table with 95% intervals; an unreadable file is listed, not fatal', async () => {
    // A JPEG cut short: its header reads, its pixels do not.
    await writeFile(join(heldout, '0', 'broken.jpg'), readFileSync(new URL('../fixtures/images/truncated.jpg', import.meta.url)));
    try {
      const { code, stdout } = await run(['eval', '--weights', SHAPES, heldout], env);
      expect(code).toBe(0);
      expect(stdout).toContain('150 images evaluated (index-folders)');
      expect(stdout).toMatch(/fp32 +100\.00% \[97\.\d\d%, 100\.00%\] +100\.00% \[/);
      expect(stdout).toContain('1 of 151 files unreadable');
      expect(stdout).toMatch(/broken\.jpg {2}IMAGE_CORRUPT/);
    } finally {
      await rm(join(heldout, '0', 'broken.jpg'));
    }
  });

  it('refuses a folder whose sub-folders are neither WordNet ids nor class indices', async () => {
    const odd = join(dir, 'odd');
    mkdirSync(join(odd, 'cats'), { recursive: true });
    const { code, stderr } = await run(['eval', '--weights', SHAPES, odd], env);
    expect(code).toBe(2);
    expect(stderr).toContain('[INVALID_ARGUMENT]');
  });
});

describe('resnet-serve classify --explain DIR', () => {
  it('writes a PNG of the photo with the top class’s heatmap on what the model saw, and says where', async () => {
    const photo = join(dir, 'disc.png');
    const svg =
      '<svg xmlns="http://www.w3.org/2000/svg" width="400" height="240"><rect width="400" height="240" fill="#999"/><circle cx="200" cy="120" r="60" fill="#d22"/></svg>';
    await sharp(Buffer.from(svg)).png().toFile(photo);
    const out = join(dir, 'overlays');
    const { code, stdout, stderr } = await run(['classify', '--weights', SHAPES, '--explain', out, photo], env);
    expect(code, stderr).toBe(0);
    expect(stdout).toContain(`where it looked (class 1): ${join(out, 'disc.cam.png')}`);
    expect(await readdir(out)).toEqual(['disc.cam.png']);
    const { data, info } = await sharp(join(out, 'disc.cam.png')).raw().toBuffer({ resolveWithObject: true });
    expect([info.width, info.height]).toEqual([400, 240]);
    const box = cropBox(400, 240);
    const pixel = (x: number, y: number): number[] =>
      Array.from(data.subarray((y * info.width + x) * info.channels, (y * info.width + x) * info.channels + 3));
    // Left of the box: the grey background, dimmed by the veil (153 · 0.45 ≈ 69).
    const outside = pixel(Math.floor(box.left / 2), 120);
    for (const v of outside) expect(v).toBeLessThan(90);
    // Inside: the heatmap tints the grey, so the pixel is neither the grey nor the veiled grey.
    const inside = pixel(Math.floor(box.left + 5), Math.floor(box.top + 5));
    expect(inside).not.toEqual([153, 153, 153]);
    expect(Math.max(...inside)).toBeGreaterThan(90);
  });
});
