/**
 * The colour PIL shows where a GIF's first frame is transparent.
 *
 * PIL opens a GIF's first frame as a palette image; `convert('RGB')` then maps the transparent index to
 * its palette entry like any other index. libvips (libnsgif) returns those pixels as transparent black
 * instead, which cost 0.68/255 mean |Δ| (184/255 at worst) on a sticker-like test image. Knowing the
 * entry lets us paint it back. Reads the GIF89a blocks up to the first image descriptor only.
 */
export function gifTransparentColour(bytes: Uint8Array): [number, number, number] | undefined {
  if (bytes.length < 13) return undefined;
  const screenFlags = bytes[10]!;
  let at = 13;
  let globalTable: number | undefined;
  if (screenFlags & 0x80) {
    globalTable = at;
    at += 3 << ((screenFlags & 7) + 1);
  }
  let transparentIndex: number | undefined;
  while (at < bytes.length) {
    const introducer = bytes[at]!;
    if (introducer === 0x21) {
      const label = bytes[at + 1]!;
      // Graphic Control Extension: block size 4, flags (bit 0 = transparent colour given), delay, index.
      if (label === 0xf9 && bytes[at + 2] === 4) {
        transparentIndex = bytes[at + 3]! & 1 ? bytes[at + 6]! : undefined;
      }
      at += 2;
      while (at < bytes.length && bytes[at] !== 0) at += bytes[at]! + 1;
      at += 1;
    } else if (introducer === 0x2c) {
      if (transparentIndex === undefined || at + 10 > bytes.length) return undefined;
      const imageFlags = bytes[at + 9]!;
      const table = imageFlags & 0x80 ? at + 10 : globalTable;
      const entries = imageFlags & 0x80 ? 2 << (imageFlags & 7) : 2 << (screenFlags & 7);
      if (table === undefined || transparentIndex >= entries || table + 3 * transparentIndex + 3 > bytes.length) return undefined;
      const entry = table + 3 * transparentIndex;
      return [bytes[entry]!, bytes[entry + 1]!, bytes[entry + 2]!];
    } else {
      return undefined;
    }
  }
  return undefined;
}

/** Paints `colour` into the RGB of every fully transparent pixel of interleaved RGBA `pixels`. */
export function fillTransparent(pixels: Uint8Array, channels: number, colour: readonly [number, number, number]): void {
  if (channels !== 4) return;
  for (let p = 0; p < pixels.length; p += 4) {
    if (pixels[p + 3] === 0) {
      pixels[p] = colour[0];
      pixels[p + 1] = colour[1];
      pixels[p + 2] = colour[2];
    }
  }
}
