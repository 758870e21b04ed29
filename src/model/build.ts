import type { StateDict } from '../weights/types.js';
import { quantizeToOnnx } from './quantize.js';
import { convertToOnnx } from './resnet.js';
import type { Precision } from './types.js';

/**
 * The version of what `buildModel` writes; part of the model cache's key (src/setup/resolve-model.ts), so a model
 * cached by an older resnet-serve is converted again rather than served without what this one expects.
 * 2: the `features` output (layer4) that explanations read.
 */
export const CONVERTER_VERSION = 2;

export interface BuildOptions {
  precision: Precision;
  /** int8 only: preprocessed calibration images; without them, ranges come from the BatchNorm statistics. */
  calibration?: readonly Float32Array[];
}

/** The ONNX model for a ResNet-18 state_dict at the requested precision: what `convert` writes and the cache holds. */
export async function buildModel(stateDict: StateDict, options: BuildOptions): Promise<Uint8Array> {
  return options.precision === 'int8' ? quantizeToOnnx(stateDict, { calibration: options.calibration }) : convertToOnnx(stateDict);
}
