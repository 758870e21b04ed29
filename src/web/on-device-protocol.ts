/** The messages between the page (on-device.ts) and its worker (on-device-worker.ts); types only. */
import type { PreprocessRecipe } from '../image/recipe.js';
import type { OnDeviceProblem } from './on-device-preprocess.js';

/** One class, in the shape the server's /predict answers, so the page draws both alike. */
export interface WorkerPrediction {
  index: number;
  label: string;
  label_zh: string;
  probability: number;
}

export type ToWorker =
  | { type: 'load'; modelUrl: string; modelBytes: number; runtimeUrl: string; kernelUrl: string; recipe: PreprocessRecipe }
  | { type: 'classify'; id: number; image: Blob; topK: number };

export type FromWorker =
  | { type: 'progress'; loaded: number; total: number }
  | { type: 'starting' }
  | { type: 'ready'; threads: number }
  | {
      type: 'result';
      id: number;
      predictions: WorkerPrediction[];
      timings: { decode: number; inference: number; total: number };
      threads: number;
    }
  /** `id` -1: the load failed. */
  | { type: 'error'; id: number; problem: OnDeviceProblem; message: string };
