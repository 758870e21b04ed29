// Compiles the SIMD resampling kernel (src/image/wasm/resample.ts, AssemblyScript) to resample.wasm, and puts
// the one binary where each loader looks for it: next to the TypeScript sources (tests run them under vitest),
// in dist/image/wasm/ (the server) and in dist/web/ (the page fetches it). All three are git-ignored.
// Usage: node scripts/build-wasm.mjs
import { copyFileSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import asc from 'assemblyscript/asc';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const source = join(root, 'src', 'image', 'wasm', 'resample.ts');
const built = join(root, 'src', 'image', 'wasm', 'resample.wasm');

const { error, stderr } = await asc.main([
  source,
  '--outFile',
  built,
  // -O3 without shrinking; the kernel allocates nothing, so the smallest runtime; bounds are the loader's job.
  '-O3',
  '--runtime',
  'stub',
  '--noAssert',
  '--enable',
  'simd',
]);
if (error) {
  console.error(stderr.toString());
  throw error;
}
for (const dir of [join(root, 'dist', 'image', 'wasm'), join(root, 'dist', 'web')]) {
  mkdirSync(dir, { recursive: true });
  copyFileSync(built, join(dir, 'resample.wasm'));
}
console.log(`built the SIMD kernel into ${built} and dist/`);
