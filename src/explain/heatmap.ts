/**
 * Turns a 7 × 7 class activation map into translucent pixels, for the CLI's PNG overlays (explain/cam-overlay.ts)
 * and the page's canvas (web/cam-overlay.ts) alike, so both show the same picture. No Node or DOM imports.
 */

/**
 * matplotlib's viridis at nine evenly spaced points (van der Walt & Smith 2015): perceptually uniform, so equal
 * steps of evidence look like equal steps of colour, and readable by people with the common colour-vision deficiencies.
 */
const VIRIDIS: readonly (readonly [number, number, number])[] = [
  [68, 1, 84],
  [71, 45, 123],
  [59, 82, 139],
  [44, 114, 142],
  [33, 145, 140],
  [40, 174, 128],
  [94, 201, 98],
  [173, 220, 48],
  [253, 231, 37],
];

/** Opacity of the heatmap over the photo: strong enough to read the colour, weak enough to see the object. */
export const HEATMAP_ALPHA = 0.5;

/** Opacity of the black veil over the parts of the photo the model did not see. */
export const OUTSIDE_DIM = 0.55;

/** The viridis colour of `v` in 0..1 (clamped), linearly interpolated between the stops. */
export function viridis(v: number): [number, number, number] {
  const x = Math.min(1, Math.max(0, v)) * (VIRIDIS.length - 1);
  const i = Math.min(VIRIDIS.length - 2, Math.floor(x));
  const t = x - i;
  const a = VIRIDIS[i] as readonly [number, number, number];
  const b = VIRIDIS[i + 1] as readonly [number, number, number];
  return [0, 1, 2].map((c) => Math.round((a[c] as number) + t * ((b[c] as number) - (a[c] as number)))) as [number, number, number];
}

/**
 * The map bilinearly upsampled to `width` × `height` RGBA pixels (row-major, 4 bytes each), coloured by viridis at
 * HEATMAP_ALPHA. Each map value sits at the centre of its cell (a seventh of the box on each side), as a browser
 * draws a 7 × 7 image scaled up with smoothing; beyond the outer centres the edge values hold.
 *
 * @param map - `grid × grid` values in 0..1, row-major.
 */
export function heatmapRgba(map: Float32Array, width: number, height: number, grid = 7): Uint8ClampedArray<ArrayBuffer> {
  const out = new Uint8ClampedArray(width * height * 4);
  const alpha = Math.round(HEATMAP_ALPHA * 255);
  const at = (row: number, col: number): number => map[row * grid + col] as number;
  for (let y = 0; y < height; y++) {
    const gy = Math.min(grid - 1, Math.max(0, ((y + 0.5) / height) * grid - 0.5));
    const y0 = Math.min(grid - 2, Math.floor(gy));
    const ty = gy - y0;
    for (let x = 0; x < width; x++) {
      const gx = Math.min(grid - 1, Math.max(0, ((x + 0.5) / width) * grid - 0.5));
      const x0 = Math.min(grid - 2, Math.floor(gx));
      const tx = gx - x0;
      const top = at(y0, x0) + tx * (at(y0, x0 + 1) - at(y0, x0));
      const bottom = at(y0 + 1, x0) + tx * (at(y0 + 1, x0 + 1) - at(y0 + 1, x0));
      const [r, g, b] = viridis(top + ty * (bottom - top));
      const i = (y * width + x) * 4;
      out[i] = r;
      out[i + 1] = g;
      out[i + 2] = b;
      out[i + 3] = alpha;
    }
  }
  return out;
}
