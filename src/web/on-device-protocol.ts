/** The messages between the page (on-device.ts) and its worker (on-device-worker.ts); types only. */

import type { ImageFormat } from '../image/formats.js';
import type { PreprocessRecipe } from '../image/recipe.js';
import type { CropBox } from '../image/recipe-geometry.js';
import type { OnDeviceProblem } from './on-device-preprocess.js';

/** One class, in the shape the server's /predict answers (`cam` and `crop` when explained), so the page draws both alike. */
export interface WorkerPrediction {
  index: number;
  label: string;
  label_zh: string;
  probability: number;
  /** The class activation map, 7 rows of 7 in 0..1, as `explain=true` answers it. */
  cam?: number[][];
  crop?: CropBox;
}

export type ToWorker =
  | { type: 'load'; modelUrl: string; modelBytes: number; runtimeUrl: string; kernelUrl: string; recipe: PreprocessRecipe }
  /** `explain`: also compute where it looked (the model's `features` output and the fc weights). */
  | { type: 'classify'; id: number; image: Blob; topK: number; explain: boolean };

export type FromWorker =
  | { type: 'progress'; loaded: number; total: number }
  | { type: 'starting' }
  | { type: 'ready'; threads: number }
  | {
      type: 'result';
      id: number;
      predictions: WorkerPrediction[];
      /** With maps: the upright image's size, the space `crop` is in. */
      image?: { width: number; height: number };
      timings: { decode: number; inference: number; total: number };
      threads: number;
    }
  /** `id` -1: the load failed. `format`: the image's, for UNDECODABLE. */
  | { type: 'error'; id: number; problem: OnDeviceProblem; message: string; format?: ImageFormat };
