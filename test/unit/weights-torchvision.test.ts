import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { IMAGENET_RECIPE } from '../../src/image/recipe.js';
import { ARCHITECTURES } from '../../src/model/architectures/index.js';
import { DEFAULT_WEIGHTS } from '../../src/weights/default-weights.js';
import { expectedHashPrefix } from '../../src/weights/fetch.js';
import { architectureOfWeightsFile, defaultWeightsOf } from '../../src/weights/official-weights.js';
import { TORCHVISION_VERSION, TORCHVISION_WEIGHTS } from '../../src/weights/torchvision-weights.js';
import { thrownError } from '../helpers/errors.js';
import { IN_CI, REFERENCE_PYTHON, runReferencePython } from '../helpers/reference-python.js';

/** Issue 17's architectures, in its order. */
const ISSUE_17 = [
  ...['resnet18', 'resnet34', 'resnet50', 'resnet101', 'resnet152'],
  ...['resnext50_32x4d', 'resnext101_32x8d', 'resnext101_64x4d', 'wide_resnet50_2', 'wide_resnet101_2'],
  ...['mobilenet_v3_large', 'mobilenet_v3_small'],
  ...Array.from({ length: 8 }, (_, i) => `efficientnet_b${i}`),
  ...['efficientnet_v2_s', 'efficientnet_v2_m', 'efficientnet_v2_l'],
  ...['400mf', '800mf', '1_6gf', '3_2gf', '8gf', '16gf', '32gf', '128gf'].map((s) => `regnet_y_${s}`),
  ...['400mf', '800mf', '1_6gf', '3_2gf', '8gf', '16gf', '32gf'].map((s) => `regnet_x_${s}`),
  ...['convnext_tiny', 'convnext_small', 'convnext_base', 'convnext_large'],
];

/** Every weights file TorchVision publishes for those architectures, written by scripts/torchvision_weights.py. */
const FILE_NAMES = (
  JSON.parse(readFileSync(new URL('../fixtures/arch/torchvision-file-names.json', import.meta.url), 'utf8')) as {
    fileNames: Record<string, string>;
  }
).fileNames;

describe('the TorchVision weights table', () => {
  it(`holds the DEFAULT weights of every architecture of issue 17, from torchvision ${TORCHVISION_VERSION}`, () => {
    expect(Object.keys(TORCHVISION_WEIGHTS)).toEqual(ISSUE_17);
    for (const name of ARCHITECTURES.keys()) expect(TORCHVISION_WEIGHTS[name]?.architecture).toBe(name);
  });

  it('names each file as its URL does, with the hash prefix torch.hub checks', () => {
    for (const weights of Object.values(TORCHVISION_WEIGHTS)) {
      expect(weights.url).toBe(`https://download.pytorch.org/models/${weights.fileName}`);
      expect(weights.fileName).toMatch(new RegExp(`-${weights.sha256Prefix}\\.pth$`));
      expect(weights.sha256Prefix).toMatch(/^[0-9a-f]{8}$/);
      expect(weights.classes).toBe(1000);
    }
  });

  it('gives the recipes TorchVision documents (resnet50 V2 232/224, efficientnet_b0 bicubic 256/224, convnext_tiny 236/224)', () => {
    expect(defaultWeightsOf('resnet50')).toMatchObject({ weights: 'IMAGENET1K_V2', recipe: { resizeSize: 232, cropSize: 224 } });
    expect(defaultWeightsOf('efficientnet_b0').recipe).toMatchObject({ resizeSize: 256, cropSize: 224, interpolation: 'bicubic' });
    expect(defaultWeightsOf('convnext_tiny').recipe).toMatchObject({ resizeSize: 236, cropSize: 224, interpolation: 'bilinear' });
    expect(defaultWeightsOf('efficientnet_v2_l').recipe).toMatchObject({ cropSize: 480, mean: [0.5, 0.5, 0.5], std: [0.5, 0.5, 0.5] });
    expect(defaultWeightsOf('regnet_y_128gf')).toMatchObject({ weights: 'IMAGENET1K_SWAG_E2E_V1', recipe: { cropSize: 384 } });
  });

  it('is what DEFAULT_WEIGHTS and IMAGENET_RECIPE say for resnet18', () => {
    const resnet18 = defaultWeightsOf('resnet18');
    expect(DEFAULT_WEIGHTS).toEqual({
      architecture: 'resnet18',
      url: resnet18.url,
      fileName: 'resnet18-f37072fd.pth',
      sha256Prefix: 'f37072fd',
    });
    expect(expectedHashPrefix(resnet18.url)).toBe(resnet18.sha256Prefix);
    expect(resnet18.recipe).toEqual({ ...IMAGENET_RECIPE });
  });

  it('refuses an unknown architecture with INVALID_ARGUMENT naming the known ones', () => {
    const error = thrownError(() => defaultWeightsOf('resnet19'));
    expect(error.code).toBe('INVALID_ARGUMENT');
    expect(error.message).toContain('resnet18, resnet34');
    expect(thrownError(() => defaultWeightsOf('toString')).code).toBe('INVALID_ARGUMENT');
  });
});

describe('architectureOfWeightsFile', () => {
  it.each(Object.entries(FILE_NAMES))('%s implies %s', (fileName, architecture) => {
    expect(architectureOfWeightsFile(fileName)).toBe(architecture);
    expect(architectureOfWeightsFile(fileName.replace(/\.pth$/, '.safetensors'))).toBe(architecture);
  });

  it('takes a bare builder name as the stem', () => {
    expect(architectureOfWeightsFile('resnet50.pth')).toBe('resnet50');
    expect(architectureOfWeightsFile('regnet_y_400mf.safetensors')).toBe('regnet_y_400mf');
  });

  it.each([
    ['another extension', 'resnet50-11ad3fa6.onnx'],
    ['a suffix without a hash', 'resnet50_finetuned.pth'],
    ['a prefix', 'my_resnet50-11ad3fa6.pth'],
    ['a hash that is not hex', 'resnet50-11ad3fz6.pth'],
    ['a short hash', 'resnet50-11ad.pth'],
    ['a name that is no builder', 'resnet5-11ad3fa6.pth'],
    ['upper case', 'ResNet50-11ad3fa6.pth'],
  ])('implies nothing for %s (%s)', (_why, fileName) => {
    expect(architectureOfWeightsFile(fileName)).toBeUndefined();
  });
});

describe.runIf(REFERENCE_PYTHON === undefined && IN_CI)('the TorchVision metadata in CI', () => {
  it('is readable', () => {
    expect.fail('.cache/venv/bin/python is missing: .ci/run must install torch, torchvision and safetensors into it');
  });
});

describe.skipIf(REFERENCE_PYTHON === undefined)('the table against TorchVision itself (scripts/torchvision_weights.py --json)', () => {
  it('equals what TorchVision says today, and so does the file-name fixture', async () => {
    const stdout = await runReferencePython('scripts/torchvision_weights.py', ['--json'], 120_000);
    const reference = JSON.parse(stdout) as { torchvision: string; entries: { architecture: string }[]; fileNames: Record<string, string> };
    expect(reference.torchvision.split('+')[0]).toBe(TORCHVISION_VERSION);
    expect(reference.entries).toEqual(Object.values(TORCHVISION_WEIGHTS));
    expect(reference.fileNames).toEqual(FILE_NAMES);
  }, 180_000);
});
