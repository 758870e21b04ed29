// Builds the page into dist/web/: bundles src/web/main.ts to app.js (esbuild) and copies index.html and
// styles.css and favicon.svg. Runs after tsc (it reads the server's defaults from dist/server/options.js). Type-checks the page first (tsconfig.json excludes src/web; src/web/tsconfig.json has DOM types).
// Usage: node scripts/build-web.mjs [--no-check]
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { build } from 'esbuild';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const source = join(root, 'src', 'web');
const out = join(root, 'dist', 'web');

if (!process.argv.includes('--no-check')) {
  execFileSync(process.execPath, [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', join(source, 'tsconfig.json')], {
    stdio: 'inherit',
  });
}

// The page's fallback limits (used until GET /config answers) are the server's defaults, from the build that
// `npm run build` has just compiled into dist/.
const { SERVER_OPTIONS } = await import(pathToFileURL(join(root, 'dist', 'server', 'options.js')).href);
// The formats the page names are the ones the server decodes (src/image/formats.ts).
const { DECODABLE_NAMES } = await import(pathToFileURL(join(root, 'dist', 'image', 'formats.js')).href);

mkdirSync(out, { recursive: true });
await build({
  define: {
    __DEFAULT_CONFIG__: JSON.stringify({ maxUploadBytes: SERVER_OPTIONS.maxUploadBytes.default, topK: SERVER_OPTIONS.topK.default }),
    __IMAGE_FORMATS__: JSON.stringify(DECODABLE_NAMES),
  },
  // The page, and the on-device mode's worker (its own file: `new Worker(url, { type: 'module' })`).
  entryPoints: { app: join(source, 'main.ts'), 'on-device-worker': join(source, 'on-device-worker.ts') },
  outdir: out,
  bundle: true,
  format: 'esm',
  // Browsers from 2021 on (optional chaining, ??, private fields). esbuild refuses safari14 for a destructuring bug.
  target: ['es2020', 'chrome90', 'firefox90', 'safari15'],
  minify: true,
  sourcemap: true,
  logLevel: 'warning',
});
for (const file of ['index.html', 'styles.css', 'favicon.svg']) copyFileSync(join(source, file), join(out, file));
console.log(`built the page into ${out}`);
