// Fails when a relative import in src/ runs against the layering: a module may import only from its own unit
// or from a lower layer, so the structure stays as docs/architecture.md's layout draws it. Part of `npm run lint`.
// Usage: node scripts/check-layers.mjs [SRC_DIR]   (default: this repository's src/)
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, posix, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const src = process.argv[2] ?? join(root, 'src');

/**
 * Lowest first. A unit is a top-level file or folder of src/, or a deeper folder or file that sits in a layer of
 * its own (the longest matching unit wins). Within a layer, units may import each other only when it is `shared`.
 */
const LAYERS = [
  { units: ['errors.ts', 'guards.ts', 'files'], shared: true },
  { units: ['weights'] },
  // The ImageNet recipe (image/recipe.ts) gives model/ its input shape and engine/ the tensor it checks.
  { units: ['image'] },
  // The model contract (features.ts, types.ts), the ONNX reader/writer and the architectures.
  { units: ['model'] },
  { units: ['engine'] },
  // Quantising runs the float model through engine's offline runner (calibration, agreement), so build and
  // quantize/ sit above engine/, which itself reads the model contract below it.
  { units: ['model/quantize', 'model/build.ts'], shared: true },
  { units: ['labels'] },
  { units: ['explain'] },
  { units: ['classifier'] },
  { units: ['setup'] },
  { units: ['bulk', 'eval'] },
  { units: ['server', 'web'] },
  { units: ['cli', 'cli.ts'], shared: true },
];
/** The library surface re-exports every stage. */
const ANYTHING = new Set(['index.ts']);

const rank = new Map();
const layerOf = new Map();
LAYERS.forEach((layer, index) => {
  for (const unit of layer.units) {
    rank.set(unit, index);
    layerOf.set(unit, layer);
  }
});
const unitsByLength = [...rank.keys()].sort((a, b) => b.length - a.length);

/** The unit a src-relative posix path belongs to. */
function unitOf(path) {
  if (ANYTHING.has(path)) return path;
  return unitsByLength.find((unit) => path === unit || path.startsWith(`${unit}/`));
}

function sources(dir) {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return sources(path);
    return entry.name.endsWith('.ts') ? [path] : [];
  });
}

// `from '…'` of import and export statements, bare `import '…'` and `import('…')`; type-only imports count too.
const IMPORT = /(?:\bfrom\s*|\bimport\s*\(?\s*)'(\.{1,2}\/[^']+)'/g;

const problems = [];
for (const file of sources(src)) {
  const from = relative(src, file).split(sep).join('/');
  const fromUnit = unitOf(from);
  if (fromUnit === undefined) {
    problems.push(`${from}: in no layer; add its folder to LAYERS in scripts/check-layers.mjs`);
    continue;
  }
  if (ANYTHING.has(fromUnit)) continue;
  for (const match of readFileSync(file, 'utf8').matchAll(IMPORT)) {
    const to = posix.normalize(posix.join(posix.dirname(from), match[1])).replace(/\.js$/, '.ts');
    const toUnit = unitOf(to);
    if (toUnit === fromUnit) continue;
    const sameSharedLayer = toUnit !== undefined && layerOf.get(toUnit) === layerOf.get(fromUnit) && layerOf.get(fromUnit).shared;
    if (toUnit !== undefined && !ANYTHING.has(toUnit) && (rank.get(toUnit) < rank.get(fromUnit) || sameSharedLayer)) continue;
    problems.push(`src/${from} imports src/${to}: ${fromUnit} may import only from layers below it (scripts/check-layers.mjs)`);
  }
}

if (problems.length > 0) {
  console.error(`Layering: ${problems.length} import${problems.length === 1 ? '' : 's'} against the layers:\n  ${problems.join('\n  ')}`);
  process.exit(1);
}
