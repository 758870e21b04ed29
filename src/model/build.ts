import type { StateDict } from '../weights/types.js';
import { convertToOnnx } from './architectures/resnet.js';
import { quantizeToOnnx } from './quantize/quantize.js';
import type { Precision } from './types.js';

export interface BuildOptions {
  precision: Precision;
  /** int8 only: preprocessed calibration images; without them, ranges come from the BatchNorm statistics. */
  calibration?: readonly Float32Array[];
}

/** The ONNX model for a ResNet-18 state_dict at the requested precision: what `convert` writes and the cache holds. */
export async function buildModel(stateDict: StateDict, options: BuildOptions): Promise<Uint8Array> {
  return options.precision === 'int8' ? quantizeToOnnx(stateDict, { calibration: options.calibration }) : convertToOnnx(stateDict);
}
