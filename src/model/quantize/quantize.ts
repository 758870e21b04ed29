import { type RunnerOptions, withRunner } from '../../engine/offline-runner.js';
import { ResnetServeError } from '../../errors.js';
import { exactLength, nonEmpty } from '../../guards.js';
import { IMAGENET_RECIPE } from '../../image/recipe.js';
import type { StateDict } from '../../weights/types.js';
import { architectureOf } from '../architectures/index.js';
import { resnetName } from '../architectures/resnet.js';
import type { OnnxGraph } from '../onnx/graph.js';
import { encodeModel } from '../onnx/proto.js';
import { type Agreement, agreement } from './agreement.js';
import { type CalibrationOptions, calibrateRanges } from './calibrate.js';
import { type DataFreeOptions, dataFreeRanges } from './calibrate-data-free.js';
import { quantizeGraph } from './graph.js';

export interface QuantizeOptions extends CalibrationOptions, DataFreeOptions {
  /**
   * Preprocessed images (each `inputElements(recipe)` floats, as `preprocess` returns) to measure activation ranges
   * on. Without them the ranges are estimated from the checkpoint's BatchNorm statistics (`dataFreeRanges`).
   */
  calibration?: readonly Float32Array[];
}

/**
 * The int8 QDQ graph of a torchvision ResNet state_dict (ResNet-18 unless `options.architecture` names another) at
 * the recipe's crop size (default ResNet-18 IMAGENET1K_V1's, 224): what {@link quantizeToOnnx} encodes.
 * @throws as {@link quantizeToOnnx}.
 */
export async function quantizedGraph(stateDict: StateDict, options: QuantizeOptions = {}): Promise<OnnxGraph> {
  const architecture = resnetName('architecture', options.architecture ?? 'resnet18');
  const inputSize = (options.recipe ?? IMAGENET_RECIPE).cropSize;
  const { graph } = architectureOf(architecture).build(stateDict, { inputSize });
  const calibration = options.calibration ?? [];
  const ranges = calibration.length > 0 ? await calibrateRanges(graph, calibration, options) : dataFreeRanges(graph, stateDict, options);
  return quantizeGraph(graph, ranges);
}

/**
 * Converts a torchvision ResNet state_dict (ResNet-18 unless `options.architecture` names another) to an int8 QDQ
 * ONNX model (opset 17) that ONNX Runtime's CPU provider runs with QLinearConv/QLinearAdd/QGemm kernels; same
 * contract as `convertToOnnx`: input `input` float32 [N,3,S,S] (S the recipe's crop size, 224 by default), outputs
 * `logits` float32 [N,classes] and `features` float32 [N,channels,g,g] (dequantised).
 *
 * @param options.calibration - images for calibrated ranges; omitted or empty: data-free ranges.
 * @param options.method - 'minmax' (default) or 'percentile', for calibrated ranges.
 * @example const int8 = await quantizeToOnnx(readStateDict(bytes), { calibration: await Promise.all(files.map(preprocess)) });
 * @throws ResnetServeError STATE_DICT_MISMATCH when the state_dict is not that ResNet; INVALID_ARGUMENT when
 *   `options.architecture` is not a ResNet or a calibration image has the wrong length; MODEL_INVALID /
 *   INFERENCE_FAILED when ORT cannot load or run the float graph for calibration.
 */
export async function quantizeToOnnx(stateDict: StateDict, options: QuantizeOptions = {}): Promise<Uint8Array> {
  return encodeModel(await quantizedGraph(stateDict, options));
}

export interface AgreementReport extends Agreement {
  /** Images compared. */
  readonly images: number;
  readonly classes: number;
}

/**
 * Runs the fp32 and the int8 model on the same preprocessed images and reports how often they agree
 * (for `convert --precision int8 --validate DIR`).
 *
 * @param images - each 3 × S × S floats (normalised), S the models' input side.
 * @throws ResnetServeError INVALID_ARGUMENT when there are no images or they differ in length;
 *   MODEL_INVALID when ORT cannot load either model or their class counts differ; INFERENCE_FAILED when a run fails.
 */
export async function validateAgreement(
  fp32Model: Uint8Array,
  int8Model: Uint8Array,
  images: readonly Float32Array[],
  options: RunnerOptions = {},
): Promise<AgreementReport> {
  nonEmpty('validation images', images, 'image');
  for (const [i, image] of images.entries())
    exactLength(`validation image ${i}`, image.length, images[0]?.length ?? 0, 'floats, as image 0');
  const fp32 = await logitsOf(fp32Model, images, options);
  const int8 = await logitsOf(int8Model, images, options);
  const classes = fp32.length / images.length;
  if (int8.length !== fp32.length) {
    throw new ResnetServeError(
      'MODEL_INVALID',
      `The int8 model has ${int8.length / images.length} classes but the fp32 model has ${classes}.`,
    );
  }
  return { images: images.length, classes, ...agreement(fp32, int8, images.length, classes) };
}

/** All logits of `model` on `images` (square 3 × S × S tensors, S read from their length), row-major. */
export async function logitsOf(model: Uint8Array, images: readonly Float32Array[], options: RunnerOptions = {}): Promise<Float32Array> {
  const size = Math.round(Math.sqrt((images[0]?.length ?? 0) / 3));
  const rows: Float32Array[] = [];
  await withRunner(model, [3, size, size], options, (runner) =>
    runner.run(images, (outputs) => {
      const [logits] = Object.values(outputs);
      if (logits !== undefined) rows.push(logits.slice());
    }),
  );
  const out = new Float32Array(rows.reduce((total, row) => total + row.length, 0));
  let offset = 0;
  for (const row of rows) {
    out.set(row, offset);
    offset += row.length;
  }
  return out;
}
