import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const SCRIPT = fileURLToPath(new URL('../../scripts/check-layers.mjs', import.meta.url));

function check(src?: string): Promise<{ code: number; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [SCRIPT, ...(src === undefined ? [] : [src])], (error, _stdout, stderr) => {
      resolve({ code: error === null ? 0 : Number(error.code), stderr });
    });
  });
}

describe('the layering check (npm run lint)', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'resnet-serve-layers-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  async function tree(name: string, files: Record<string, string>): Promise<string> {
    const src = join(dir, name);
    for (const [path, text] of Object.entries(files)) {
      await mkdir(dirname(join(src, path)), { recursive: true });
      await writeFile(join(src, path), text);
    }
    return src;
  }

  it('passes on this repository', async () => {
    expect(await check()).toEqual({ code: 0, stderr: '' });
  });

  it('passes imports that go down the layers, and any from index.ts', async () => {
    const src = await tree('down', {
      'labels/postprocess.ts': "import { integerInRange } from '../guards.js';\n",
      'classifier/classifier.ts': "import { postprocess } from '../labels/postprocess.js';\nimport type { X } from './types.js';\n",
      'cli/settings.ts': "export { SERVER_OPTIONS } from '../server/options.js';\n",
      'index.ts': "export { SETTINGS } from './cli/settings.js';\n",
    });
    expect((await check(src)).code).toBe(0);
  });

  it('fails on a stage importing the command line, a type-only import up, a dynamic one and siblings', async () => {
    const src = await tree('up', {
      'labels/postprocess.ts': "import { DEFAULTS } from '../cli/settings.js';\n",
      'image/preprocess.ts': "import type { Settings } from '../cli/settings.js';\n",
      'engine/offline-runner.ts': "const m = await import('../classifier/index.js');\n",
      'bulk/run.ts': "import { evaluate } from '../eval/evaluate.js';\n",
      'web/main.ts': "import { buildApp } from '../server/app.js';\n",
    });
    const { code, stderr } = await check(src);
    expect(code).toBe(1);
    expect(stderr).toContain('5 imports against the layers');
    expect(stderr).toContain('src/labels/postprocess.ts imports src/cli/settings.ts');
    expect(stderr).toContain('src/image/preprocess.ts imports src/cli/settings.ts');
    expect(stderr).toContain('src/engine/offline-runner.ts imports src/classifier/index.ts');
    expect(stderr).toContain('src/bulk/run.ts imports src/eval/evaluate.ts');
    expect(stderr).toContain('src/web/main.ts imports src/server/app.ts');
  });

  it('fails on a module in no layer', async () => {
    const src = await tree('unknown', { 'settings.ts': "import { LANGS } from './labels/types.js';\n" });
    const { code, stderr } = await check(src);
    expect(code).toBe(1);
    expect(stderr).toContain('settings.ts: in no layer');
  });
});
