// Deterministic synthetic photos for the benchmark: gradients + low-frequency value noise + filled shapes +
// a little per-pixel grain, so JPEG sizes land near real photos' (a 12 MP image ≈ a few MB, not 20).
import { mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import sharp from 'sharp';
import { rng } from './random.mjs';

/** The fixed input set: every size the issue names, plus one PNG. */
export const IMAGE_SET = Object.freeze([
  { name: '320x240.jpg', width: 320, height: 240, format: 'jpeg' },
  { name: '640x480.jpg', width: 640, height: 480, format: 'jpeg' },
  { name: '1920x1080.jpg', width: 1920, height: 1080, format: 'jpeg' },
  { name: '4000x3000.jpg', width: 4000, height: 3000, format: 'jpeg' },
  { name: '800x600.png', width: 800, height: 600, format: 'png' },
]);

function renderPixels(width, height, seed) {
  const random = rng(seed);
  const pixels = new Uint8Array(width * height * 3);
  // Value noise on a coarse grid (one cell per ~1/12 of the width), bilinearly interpolated per pixel.
  const cell = Math.max(8, Math.round(width / 12));
  const gw = Math.ceil(width / cell) + 2;
  const gh = Math.ceil(height / cell) + 2;
  const grid = Float32Array.from({ length: gw * gh * 3 }, () => random() * 90 - 45);
  const shapes = Array.from({ length: 14 }, () => ({
    circle: random() < 0.5,
    cx: random() * width,
    cy: random() * height,
    r: (0.04 + random() * 0.18) * Math.min(width, height),
    color: [random() * 255, random() * 255, random() * 255],
  }));
  const base = [random() * 255, random() * 255, random() * 255];
  for (let y = 0; y < height; y++) {
    const gy = y / cell;
    const y0 = Math.floor(gy);
    const fy = gy - y0;
    for (let x = 0; x < width; x++) {
      const gx = x / cell;
      const x0 = Math.floor(gx);
      const fx = gx - x0;
      let r = base[0] * (1 - x / width) + 200 * (x / width);
      let g = base[1] * (1 - y / height) + 60 * (y / height);
      let b = base[2] * 0.5 + 100 * ((x + y) / (width + height));
      for (const s of shapes) {
        const dx = x - s.cx;
        const dy = y - s.cy;
        const inside = s.circle ? dx * dx + dy * dy < s.r * s.r : Math.abs(dx) < s.r && Math.abs(dy) < s.r * 0.6;
        if (inside) [r, g, b] = [s.color[0] * 0.8 + r * 0.2, s.color[1] * 0.8 + g * 0.2, s.color[2] * 0.8 + b * 0.2];
      }
      const i00 = (y0 * gw + x0) * 3;
      const i10 = i00 + 3;
      const i01 = i00 + gw * 3;
      const i11 = i01 + 3;
      const o = (y * width + x) * 3;
      const grain = (random() - 0.5) * 28;
      const rgb = [r, g, b];
      for (let c = 0; c < 3; c++) {
        const n = (grid[i00 + c] * (1 - fx) + grid[i10 + c] * fx) * (1 - fy) + (grid[i01 + c] * (1 - fx) + grid[i11 + c] * fx) * fy;
        pixels[o + c] = Math.max(0, Math.min(255, rgb[c] + n + grain));
      }
    }
  }
  return pixels;
}

/**
 * Writes IMAGE_SET into `dir` (skipping files already there) and returns their paths and bytes.
 * @param {string} dir
 * @returns {Promise<{ name: string, path: string, width: number, height: number, format: string, bytes: Buffer }[]>}
 */
export async function ensureImages(dir) {
  await mkdir(dir, { recursive: true });
  const out = [];
  for (const [index, spec] of IMAGE_SET.entries()) {
    const path = join(dir, spec.name);
    const exists = await stat(path).then(
      (s) => s.size > 0,
      () => false,
    );
    if (!exists) {
      const raw = renderPixels(spec.width, spec.height, 1000 + index);
      const image = sharp(raw, { raw: { width: spec.width, height: spec.height, channels: 3 } });
      const encoded = spec.format === 'jpeg' ? image.jpeg({ quality: 90, chromaSubsampling: '4:2:0' }) : image.png({ compressionLevel: 6 });
      await writeFile(path, await encoded.toBuffer());
    }
    out.push({ ...spec, path, bytes: await readFile(path) });
  }
  return out;
}
