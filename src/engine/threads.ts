import { availableParallelism } from 'node:os';
import type { IntegerOption } from '../guards.js';

/** ONNX Runtime's intra-op threads: by default one per core the process may use. */
export const THREADS = Object.freeze({ default: availableParallelism(), min: 1, max: 256 }) satisfies IntegerOption;
