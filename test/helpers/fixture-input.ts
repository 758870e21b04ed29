/**
 * The closed-form input of test/fixtures/make_model_fixtures.py `make_input(k)` (also used by make_cam_fixtures.py,
 * and by make_arch_fixtures.py with the side as a parameter); integer and single IEEE operations only, so it is bit
 * for bit what PyTorch saw.
 */
export function fixtureInput(k: number, size = 224): Float32Array {
  const plane = size * size;
  const out = new Float32Array(3 * plane);
  for (let c = 0; c < 3; c++) {
    for (let h = 0; h < size; h++) {
      for (let w = 0; w < size; w++) {
        const i = c * plane + h * size + w;
        const s = (h * (k + 1) + w * (k + 2) + 61 * c) % 97;
        const n = (i * 2654435761 + (k + 1) * 40503) % 2 ** 32;
        out[i] = s / 48 + n / 2 ** 33 - 1;
      }
    }
  }
  return out;
}
