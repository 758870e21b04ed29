import { readFileSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { compileForThisCpu } from '../../src/engine/compile.js';
import { convertToOnnx } from '../../src/model/architectures/resnet.js';
import { readSafetensors } from '../../src/weights/safetensors.js';

const model = convertToOnnx(readSafetensors(readFileSync(new URL('../fixtures/model/tiny-resnet18.safetensors', import.meta.url))));
const dir = await mkdtemp(join(tmpdir(), 'resnet-serve-compile-'));
afterAll(() => rm(dir, { recursive: true, force: true }));

describe('compileForThisCpu', () => {
  it('compiles once, reuses the files, and keeps one compiled form per model name', async () => {
    const source = join(dir, 'tiny.onnx');
    await writeFile(source, model);
    // The format this cache held before: replaced like any stale version.
    await mkdir(join(dir, 'compiled'), { recursive: true });
    await writeFile(join(dir, 'compiled', 'tiny-0123456789abcdef.ort'), 'old');
    const first = await compileForThisCpu(source, dir);
    expect(first).toMatch(/compiled\/tiny-[0-9a-f]{8}-[0-9a-f]{16}\/model\.onnx$/);
    const firstDir = dirname(first);
    // The graph is small; the weights sit in the page-aligned file ORT maps at load.
    expect((await readdir(firstDir)).sort()).toEqual(['model.onnx', 'model.onnx.data']);
    expect((await stat(join(firstDir, 'model.onnx.data'))).size).toBeGreaterThan((await stat(first)).size);
    expect(await compileForThisCpu(source, dir)).toBe(first);
    expect(await readdir(join(dir, 'compiled'))).toEqual([basename(firstDir)]);

    // A new version of the same model (new mtime) compiles anew and replaces the old form.
    await utimes(source, new Date(), new Date(Date.now() + 5000));
    const second = await compileForThisCpu(source, dir);
    expect(second).not.toBe(first);
    expect(await readdir(join(dir, 'compiled'))).toEqual([basename(dirname(second))]);
  });

  it('keeps the compiled forms of two models with the same file name in different folders', async () => {
    await mkdir(join(dir, 'a'), { recursive: true });
    await mkdir(join(dir, 'b'), { recursive: true });
    await writeFile(join(dir, 'a', 'same.onnx'), model);
    await writeFile(join(dir, 'b', 'same.onnx'), model);
    const a = await compileForThisCpu(join(dir, 'a', 'same.onnx'), dir);
    const b = await compileForThisCpu(join(dir, 'b', 'same.onnx'), dir);
    expect(a).not.toBe(b);
    // Compiling b removed nothing of a's: a cached start of either reads its own files.
    expect(await compileForThisCpu(join(dir, 'a', 'same.onnx'), dir)).toBe(a);
    expect((await readdir(join(dir, 'compiled'))).filter((name) => name.startsWith('same-'))).toHaveLength(2);
  });

  it('names a missing model file with INPUT_NOT_FOUND', async () => {
    await expect(compileForThisCpu(join(dir, 'missing.onnx'), dir)).rejects.toMatchObject({ code: 'INPUT_NOT_FOUND' });
  });

  it('refuses a file ONNX Runtime cannot load with MODEL_INVALID and leaves no partial file', async () => {
    const bad = join(dir, 'bad.onnx');
    await writeFile(bad, 'not a model');
    await expect(compileForThisCpu(bad, dir)).rejects.toMatchObject({ code: 'MODEL_INVALID' });
    expect((await readdir(join(dir, 'compiled'))).filter((name) => name.startsWith('bad'))).toEqual([]);
  });
});
