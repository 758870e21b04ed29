import type { ClassifierOptions } from '../../src/classifier/index.js';
import { createClassifier } from '../../src/classifier/index.js';
import { convertToOnnx } from '../../src/model/architectures/resnet.js';
import type { ClassifierLoader } from '../../src/server/classifier-slot.js';
import { syntheticResNet18StateDict } from './synthetic-weights.js';

let model: Uint8Array | undefined;

/** The full-width ResNet-18 graph (same ops and shapes as the real one) with synthetic weights; ~47 MB, built once per test file. */
export function syntheticModel(): Uint8Array {
  model ??= convertToOnnx(syntheticResNet18StateDict(20_241));
  return model;
}

/** A loader for buildApp/startServer that runs the real classifier on the synthetic model. */
export function realLoader(options: Omit<Partial<ClassifierOptions>, 'model' | 'observer'> = {}): ClassifierLoader {
  return ({ observer, maxPixels }) => createClassifier({ model: syntheticModel(), threads: 2, maxPixels, ...options, observer });
}
