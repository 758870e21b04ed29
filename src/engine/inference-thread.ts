import { createRequire } from 'node:module';

/**
 * The code of the thread that owns the ONNX Runtime session. onnxruntime-node's `session.run` computes on
 * the calling thread (its backend resolves `session.run(...)` inside a `setImmediate`), which would stall
 * the event loop for a whole batch (measured 20–80 ms here); in its own thread the server keeps parsing
 * uploads and answering /healthz while the model runs.
 *
 * It is plain CommonJS evaluated by `new Worker(code, { eval: true })`, so it runs the same from `dist/`,
 * from the TypeScript sources under vitest, and from a bundle, with no second entry file to locate.
 * It only creates, runs and releases the session; checking the model contract stays in inference-engine.ts.
 */
export const SESSION_THREAD_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const ort = require(workerData.ortPath);
(async () => {
  let session;
  try {
    session = await ort.InferenceSession.create(workerData.model, workerData.sessionOptions);
  } catch (e) {
    // Errors survive postMessage (structured clone); the engine words them.
    parentPort.postMessage({ type: 'failed', error: e });
    return;
  }
  parentPort.postMessage({ type: 'ready', inputs: session.inputMetadata, outputs: session.outputMetadata });
  // onnxruntime-node refuses tensors on a SharedArrayBuffer ("Invalid argument"), so the shared batch is
  // copied into this thread's own buffer, allocated once at the largest batch seen (a 0.1 ms memcpy per image).
  let local = new Float32Array(0);
  parentPort.on('message', async (message) => {
    if (message.type === 'release') {
      await session.release();
      parentPort.postMessage({ type: 'released' });
      return;
    }
    try {
      if (local.length < message.elements) local = new Float32Array(message.elements);
      const view = local.subarray(0, message.elements);
      view.set(message.batch.subarray(0, message.elements));
      const input = new ort.Tensor('float32', view, message.dims);
      // Only the outputs asked for (the logits, and the features for explanations): ORT copies out nothing else.
      const outputs = await session.run({ [message.inputName]: input }, message.outputNames);
      const [logits, features] = message.outputNames.map((name) => {
        const tensor = outputs[name];
        if (!tensor || !(tensor.data instanceof Float32Array)) throw new Error('no float32 output named ' + name);
        return tensor.data;
      });
      parentPort.postMessage({ type: 'result', id: message.id, logits, features });
    } catch (e) {
      parentPort.postMessage({ type: 'error', id: message.id, error: e });
    }
  });
})();
`;

/** Where the thread loads onnxruntime-node from: the same copy this package resolves. */
export function onnxRuntimePath(): string {
  return createRequire(import.meta.url).resolve('onnxruntime-node');
}

/**
 * The version of that copy, read from its package.json: the compiled-model cache keys on it, and loading the
 * native binding in the main thread only to ask (`ort.env.versions`) cost ~15 ms of every start and its memory.
 */
export function onnxRuntimeVersion(): string {
  return (createRequire(import.meta.url)('onnxruntime-node/package.json') as { version: string }).version;
}
