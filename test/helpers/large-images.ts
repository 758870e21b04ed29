import sharp from 'sharp';
import { mulberry32 } from './random.js';

/**
 * A camera-sized JPEG (default 4000×3000, 12 MP) of smooth colour fields: a small noise image enlarged, so the
 * file is a few hundred KB like a photo's rather than the ~10 MB that full-resolution noise would take, while
 * decoding it costs what any 12 MP image costs. Deterministic per seed.
 */
export async function largeJpeg(seed: number, width = 4000, height = 3000): Promise<Buffer> {
  const random = mulberry32(seed);
  const [w, h] = [40, 30];
  const pixels = Buffer.alloc(w * h * 3);
  for (let i = 0; i < pixels.length; i++) pixels[i] = Math.floor(random() * 256);
  return sharp(pixels, { raw: { width: w, height: h, channels: 3 } })
    .resize(width, height, { kernel: 'cubic' })
    .jpeg({ quality: 90 })
    .toBuffer();
}
