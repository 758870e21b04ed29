import { execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listInputs } from '../../src/bulk/inputs.js';
import { listDataset } from '../../src/eval/dataset.js';
import { preprocessFolder } from '../../src/image/folder.js';
import { looksLikeImage, readFolder, walkFolder } from '../../src/image/folder-walk.js';
import { preprocess } from '../../src/image/index.js';

const dir = mkdtempSync(join(tmpdir(), 'folder-walk-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const relative = (paths: readonly string[], root: string): string[] => paths.map((p) => p.slice(root.length + 1));

const png = (value: number): Promise<Buffer> =>
  sharp({ create: { width: 40, height: 30, channels: 3, background: { r: value, g: 255 - value, b: 128 } } })
    .png()
    .toBuffer();

/**
 * The tree where the three old walkers disagreed: a hidden file and a hidden folder (classify and calibration used
 * to take them), a sub-folder (calibration did not walk it), a link to a folder outside (classify and eval skipped
 * it; eval listed the link itself as a file), a link back to an ancestor (a cycle), a dangling link (classify dropped
 * it silently), a pipe behind a link (eval listed it, and reading it would never end), a name that sorts differently
 * by whole path than by folder (classify sorted whole paths: `b-d.jpg` before `b/`), and a file that is not an image.
 */
async function makeTree(root: string): Promise<string> {
  const aside = mkdtempSync(join(dir, 'aside-'));
  const outside = join(aside, 'outside');
  mkdirSync(outside);
  writeFileSync(join(outside, 'linked.png'), await png(30));
  mkdirSync(join(root, 'b'), { recursive: true });
  mkdirSync(join(root, '.git'));
  writeFileSync(join(root, 'a.png'), await png(10));
  writeFileSync(join(root, 'b', 'c.png'), await png(20));
  writeFileSync(
    join(root, 'b-d.jpg'),
    await sharp(await png(40))
      .jpeg()
      .toBuffer(),
  );
  writeFileSync(join(root, 'notes.txt'), 'not an image');
  writeFileSync(join(root, '.hidden.png'), await png(50));
  writeFileSync(join(root, '.git', 'inside.png'), await png(60));
  symlinkSync(outside, join(root, 'link-to-folder'));
  symlinkSync(join(root, 'a.png'), join(root, 'link-to-file.png'));
  symlinkSync(root, join(root, 'b', 'loop'));
  symlinkSync(join(root, 'gone.png'), join(root, 'dangling.png'));
  execFileSync('mkfifo', [join(aside, 'pipe')]);
  symlinkSync(join(aside, 'pipe'), join(root, 'link-to-pipe'));
  return outside;
}

/** What the walker lists for that tree, in its order. */
const WALKED = ['a.png', 'b/c.png', 'b-d.jpg', 'dangling.png', 'link-to-file.png', 'link-to-folder/linked.png', 'notes.txt'];

describe('walkFolder: the one walk of classify, eval and calibration', () => {
  const root = join(dir, 'photos');

  beforeAll(() => makeTree(root));

  it('recurses, skips hidden names, follows links without looping, keeps dangling ones, skips pipes, in folder order', async () => {
    expect(relative(await walkFolder(root), root)).toEqual(WALKED);
  });

  it('takes the folder it is given as named, even a hidden one', async () => {
    expect(relative(await walkFolder(join(root, '.git')), join(root, '.git'))).toEqual(['inside.png']);
  });

  it('readFolder gives one level, links resolved to what they point at', async () => {
    expect((await readFolder(root)).map((e) => [e.name, e.kind])).toEqual([
      ['a.png', 'file'],
      ['b', 'folder'],
      ['b-d.jpg', 'file'],
      ['dangling.png', 'file'],
      ['link-to-file.png', 'file'],
      ['link-to-folder', 'folder'],
      ['notes.txt', 'file'],
    ]);
  });

  it('judges images by their bytes, not their names', async () => {
    expect(await looksLikeImage(join(root, 'b-d.jpg'))).toBe(true);
    expect(await looksLikeImage(join(root, 'notes.txt'))).toBe(false);
    writeFileSync(join(dir, 'png-named.txt'), await png(70));
    expect(await looksLikeImage(join(dir, 'png-named.txt'))).toBe(true);
    await expect(looksLikeImage(join(root, 'dangling.png'))).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('a folder that cannot be read is INPUT_NOT_FOUND naming it', async () => {
    await expect(walkFolder(join(dir, 'nope'))).rejects.toMatchObject({
      code: 'INPUT_NOT_FOUND',
      message: expect.stringContaining('nope'),
    });
    await expect(walkFolder(join(root, 'notes.txt'))).rejects.toMatchObject({ code: 'INPUT_NOT_FOUND' });
  });

  // Permissions do not stop root, so this case needs an ordinary user.
  it.skipIf(process.getuid?.() === 0)('a sub-folder that cannot be read stops the walk rather than losing its files', async () => {
    const locked = join(dir, 'locked-tree');
    mkdirSync(join(locked, 'locked'), { recursive: true });
    chmodSync(join(locked, 'locked'), 0o000);
    try {
      await expect(walkFolder(locked)).rejects.toMatchObject({ code: 'INPUT_NOT_FOUND', message: expect.stringContaining('locked') });
    } finally {
      chmodSync(join(locked, 'locked'), 0o700);
    }
  });
});

describe('the three callers list what the walker lists', () => {
  const root = join(dir, 'callers');
  let outside: string;
  beforeAll(async () => {
    mkdirSync(root);
    outside = await makeTree(join(root, '3'));
  });

  it('classify FOLDER: every walked file, in the walk order', async () => {
    const inputs = await listInputs([join(root, '3')]);
    expect(inputs.every((input) => input.fromFolder)).toBe(true);
    expect(
      relative(
        inputs.map((input) => input.path),
        join(root, '3'),
      ),
    ).toEqual(WALKED);
  });

  it('eval: the class folder’s walked files, images or not, all labelled by the folder', async () => {
    // A linked class folder counts as a class folder, as in torchvision's ImageFolder; hidden folders do not.
    symlinkSync(outside, join(root, '5'));
    mkdirSync(join(root, '.cache'));
    const dataset = await listDataset(root, 10);
    expect(dataset.images.map((image) => [image.path.slice(root.length + 1), image.label])).toEqual([
      ...WALKED.map((path) => [`3/${path}`, 3]),
      ['5/linked.png', 5],
    ]);
  });

  it('calibration: the walked files that are images by content, in the walk order, dangling links and text skipped', async () => {
    const tensors = await preprocessFolder(join(root, '3'));
    const images = ['a.png', 'b/c.png', 'b-d.jpg', 'link-to-file.png', 'link-to-folder/linked.png'];
    const expected = await Promise.all(images.map((path) => preprocess(readFileSync(join(root, '3', path)))));
    // Byte-for-byte, one flag per image (toEqual on 150 528-float arrays takes seconds).
    const bytes = (t: Float32Array | undefined): Buffer =>
      t === undefined ? Buffer.alloc(0) : Buffer.from(t.buffer, t.byteOffset, t.byteLength);
    expect(tensors.map((tensor, i) => bytes(tensor).equals(bytes(expected[i])))).toEqual(images.map(() => true));
  });
});
