import { deflateSync } from 'node:zlib';
import sharp from 'sharp';
import { mulberry32 } from './random.js';

/**
 * Inputs for HTTP tests, made at test time (deterministic from a seed; nothing here is an expected
 * output, so nothing needs to come from PyTorch/PIL). Noise images make every seed classify differently.
 */

function noise(seed: number, width: number, height: number): Buffer {
  const random = mulberry32(seed);
  const pixels = Buffer.alloc(width * height * 3);
  // Smooth-ish gradients plus noise: JPEG-friendly, and different enough per seed to change the top class.
  const [r0, g0, b0] = [random() * 255, random() * 255, random() * 255];
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const i = (y * width + x) * 3;
      pixels[i] = (r0 + x * 2 + random() * 60) % 256;
      pixels[i + 1] = (g0 + y * 2 + random() * 60) % 256;
      pixels[i + 2] = (b0 + (x + y) + random() * 60) % 256;
    }
  }
  return pixels;
}

export async function noiseJpeg(seed: number, width = 120, height = 90): Promise<Buffer> {
  return sharp(noise(seed, width, height), { raw: { width, height, channels: 3 } })
    .jpeg({ quality: 85 })
    .toBuffer();
}

export async function noisePng(seed: number, width = 64, height = 48): Promise<Buffer> {
  return sharp(noise(seed, width, height), { raw: { width, height, channels: 3 } })
    .png()
    .toBuffer();
}

/** A JPEG cut after `fraction` of its bytes: the header parses, the scan data ends early. */
export async function truncatedJpeg(fraction = 0.5): Promise<Buffer> {
  const whole = await noiseJpeg(7, 320, 240);
  return whole.subarray(0, Math.floor(whole.length * fraction));
}

function crc32(bytes: Buffer): number {
  let crc = 0xffffffff;
  for (const byte of bytes) {
    crc ^= byte;
    for (let k = 0; k < 8; k++) crc = (crc >>> 1) ^ (0xedb88320 & -(crc & 1));
  }
  return (crc ^ 0xffffffff) >>> 0;
}

function pngChunk(type: string, data: Buffer): Buffer {
  const length = Buffer.alloc(4);
  length.writeUInt32BE(data.length);
  const typeAndData = Buffer.concat([Buffer.from(type, 'ascii'), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(typeAndData));
  return Buffer.concat([length, typeAndData, crc]);
}

/** A valid-looking PNG of a few hundred bytes whose IHDR declares `width` × `height` (a decompression bomb). */
export function pngDeclaring(width: number, height: number): Buffer {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 2; // RGB
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    pngChunk('IHDR', ihdr),
    pngChunk('IDAT', deflateSync(Buffer.alloc(1024))),
    pngChunk('IEND', Buffer.alloc(0)),
  ]);
}

/** `bytes` of JPEG-looking data (valid magic, garbage after), for upload-limit tests. */
export function bigJpegLike(bytes: number): Buffer {
  const data = Buffer.alloc(bytes, 0x5a);
  data.set([0xff, 0xd8, 0xff, 0xe0]);
  return data;
}
