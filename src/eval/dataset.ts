import { readFile, stat } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { ResnetServeError } from '../errors.js';
import { argumentRule } from '../guards.js';
import { readFolder, walkFolder } from '../image/folder-walk.js';
import { IMAGENET_WNIDS } from '../labels/imagenet-wnids.js';

/** One labelled image: a file and the class index it should get. */
export interface LabelledImage {
  readonly path: string;
  readonly label: number;
}

export type DatasetLayout = 'wordnet-folders' | 'index-folders' | 'tsv';

export interface Dataset {
  readonly layout: DatasetLayout;
  /** In a stable order: sorted folder then file names, or the TSV's line order. */
  readonly images: readonly LabelledImage[];
}

const WNID = /^n\d{8}$/;
const INDEX = /^\d+$/;
const WNID_INDEX = new Map(IMAGENET_WNIDS.map((id, i) => [id, i]));

/**
 * Lists a labelled image set in one of three layouts:
 * - `wordnet-folders`: ImageNet val as torchvision's ImageFolder reads it, one sub-folder per WordNet id
 *   (`n01440764/…`), mapped to the class index by the shipped id list (IMAGENET_WNIDS), so a subset of the
 *   classes still gets the right indices (ImageFolder would renumber them);
 * - `index-folders`: sub-folders named by class index (`0/`, `1/`, …);
 * - `tsv`: a file of `path<TAB>label` lines, the label a class index or an ImageNet WordNet id, paths relative to
 *   the file; blank lines and `#` lines are skipped.
 * Class folders and the files in them follow the folder walker's rules (`walkFolder`: recursive, hidden names
 * skipped, links followed, sorted). Every file is taken, image or not: a labelled set says each of its files is an
 * image of its class, so what cannot be decoded is counted as unreadable by the evaluation, not skipped silently.
 *
 * @param classes - the model's class count; every label must be below it.
 * @throws ResnetServeError INPUT_NOT_FOUND when `path` cannot be read or holds no file; INVALID_ARGUMENT when it
 *   fits no layout or a label is not a class of the model.
 */
export async function listDataset(path: string, classes: number): Promise<Dataset> {
  const info = await stat(path).catch(() => undefined);
  if (info === undefined) throw new ResnetServeError('INPUT_NOT_FOUND', `${path} does not exist or cannot be read.`);
  const dataset = info.isFile() ? await readTsv(path) : await readFolders(path);
  if (dataset.images.length === 0) throw new ResnetServeError('INPUT_NOT_FOUND', `${path} holds no image file.`);
  const outside = dataset.images.find((image) => image.label >= classes);
  if (outside !== undefined) {
    throw new ResnetServeError(
      'INVALID_ARGUMENT',
      `${outside.path} is labelled ${outside.label}, but the model has ${classes} classes (0..${classes - 1}).`,
    );
  }
  return dataset;
}

async function readFolders(root: string): Promise<Dataset> {
  const folders = (await readFolder(root)).filter((entry) => entry.kind === 'folder').map((entry) => entry.name);
  if (folders.length === 0) {
    throw new ResnetServeError(
      'INVALID_ARGUMENT',
      `${root} has no class sub-folders. Expected sub-folders named by WordNet id (n01440764/…) or by class index (0/, 1/, …), or a TSV file of path<TAB>index lines.`,
    );
  }
  let layout: DatasetLayout;
  let labelOf: (name: string) => number;
  if (folders.every((name) => WNID.test(name))) {
    const unknown = folders.find((name) => !WNID_INDEX.has(name));
    argumentRule(unknown === undefined, `${join(root, unknown ?? '')} is not one of the 1000 ImageNet-1k WordNet ids.`);
    layout = 'wordnet-folders';
    labelOf = (name) => WNID_INDEX.get(name) as number;
  } else if (folders.every((name) => INDEX.test(name))) {
    layout = 'index-folders';
    labelOf = Number;
  } else {
    const odd = folders.find((name) => !WNID.test(name) && !INDEX.test(name));
    throw new ResnetServeError(
      'INVALID_ARGUMENT',
      `Cannot tell the class of ${join(root, odd ?? '')}: name every sub-folder by WordNet id (n01440764) or by class index (0, 1, …).`,
    );
  }
  const images: LabelledImage[] = [];
  for (const folder of folders) {
    const label = labelOf(folder);
    for (const path of await walkFolder(join(root, folder))) images.push({ path, label });
  }
  return { layout, images };
}

async function readTsv(file: string): Promise<Dataset> {
  const text = await readFile(file, 'utf8');
  const base = dirname(resolve(file));
  const images: LabelledImage[] = [];
  text.split(/\r?\n/).forEach((line, i) => {
    if (line.trim() === '' || line.startsWith('#')) return;
    const [path, field, ...rest] = line.split('\t');
    const label = field?.trim() ?? '';
    const index = INDEX.test(label) ? Number(label) : WNID_INDEX.get(label);
    if (path === undefined || index === undefined || rest.length > 0) {
      throw new ResnetServeError(
        'INVALID_ARGUMENT',
        `${file} line ${i + 1}: expected path<TAB>class index (or ImageNet WordNet id) but read ${JSON.stringify(line)}.`,
      );
    }
    images.push({ path: resolve(base, path), label: index });
  });
  return { layout: 'tsv', images };
}
