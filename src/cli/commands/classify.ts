import { mkdir } from 'node:fs/promises';
import { basename, extname, join } from 'node:path';
import { listInputs } from '../../bulk/inputs.js';
import { filesAlreadyDone, openJsonl } from '../../bulk/jsonl.js';
import { classifyInputs, type FileResult } from '../../bulk/run.js';
import { inShard, shardOf } from '../../bulk/shard.js';
import { createClassifier } from '../../classifier/index.js';
import { CLASSIFIER_OPTIONS } from '../../classifier/options.js';
import { fileSystemFailed } from '../../errors.js';
import { argumentRule } from '../../guards.js';
import { resolveModel } from '../../setup/resolve-model.js';
import { formatTable } from '../classify-table.js';
import { catchInterrupts, signalExitCode } from '../interrupt.js';
import type { Settings } from '../settings.js';
import { bulkProgressBar, counted } from '../tty.js';
import { classifierOptions, modelSource, note } from './shared.js';

/**
 * `resnet-serve classify IMAGE|FOLDER...`: a table, JSON, or JSON Lines (`--jsonl`, resumable, sharded) of the top-k
 * classes per image, and with `--explain DIR` an overlay of where the model looked.
 */
export async function run(settings: Settings, operands: readonly string[]): Promise<number> {
  const { topK, lang, jsonl } = settings;
  argumentRule(!settings.resume || jsonl !== undefined, '--resume goes with --jsonl FILE.');
  const shard = settings.shard === undefined ? undefined : shardOf('--shard', settings.shard, process.env.JOB_COMPLETION_INDEX);
  const done = settings.resume && jsonl !== undefined ? await filesAlreadyDone(jsonl) : new Set<string>();
  const inputs = (await listInputs(operands)).filter(
    (input) => (shard === undefined || inShard(input.path, shard)) && !done.has(input.path),
  );
  // Enough files in flight to fill a batch while the next ones decode; never more than the queue admits.
  const concurrency = 2 * settings.maxBatch + settings.decodeConcurrency;
  const classifier = await createClassifier({
    ...classifierOptions('classify', settings),
    model: await resolveModel(modelSource(settings)),
    // Every file in flight is admitted: the concurrency above, not the server's queue bound, limits them.
    maxQueue: Math.max(CLASSIFIER_OPTIONS.maxQueue.default, concurrency),
  });
  const overlays =
    settings.explain === undefined
      ? undefined
      : await overlayPaths(
          settings.explain,
          inputs.map((input) => input.path),
        );
  const sink = jsonl === undefined ? undefined : await openJsonl(jsonl, settings.resume);
  const progress = sink === undefined ? undefined : bulkProgressBar(inputs.length);
  // Results for stdout keep the order of the command line (and of each folder's sorted files).
  const results: FileResult[] = [];
  let failed = 0;
  let written = 0;
  // Interrupted, a run finishes the files in flight and stops: a --jsonl run says where it stopped, a run printing
  // to stdout has nothing to keep and prints nothing rather than half an answer. Neither calls process.exit from
  // the handler: exiting while ONNX Runtime or sharp is mid-call aborts the process (SIGABRT, "terminate called
  // after throwing an instance of 'Napi::Error'", 5 runs in 30 here), so the code is returned once all is closed.
  const interruption = catchInterrupts();
  try {
    const run = await classifyInputs(classifier, inputs, {
      topK,
      concurrency,
      signal: interruption.signal,
      explain: overlays === undefined ? undefined : { overlayFor: (index) => overlays[index]!, maxPixels: settings.maxPixels },
      async onResult(result, index) {
        if ('error' in result) failed++;
        if (sink === undefined) results[index] = result;
        else {
          await sink.write(result);
          written++;
        }
      },
      onProgress(count) {
        progress?.(count);
      },
    });
    // The bar's line ends before any note, interrupted or not.
    progress?.(run.finished, true);
    // A signal that came once every file was done interrupted nothing.
    const stopped = run.finished < inputs.length ? interruption.received : undefined;
    if (stopped !== undefined) {
      note(
        sink === undefined
          ? `Interrupted by ${stopped} with ${run.finished} of ${counted(inputs.length, 'file')} done; nothing printed (--jsonl FILE keeps each result as it is done).`
          : `Interrupted by ${stopped}: ${counted(written, 'line')} written to ${jsonl}, ${counted(inputs.length - run.finished, 'file')} left; run again with --resume to continue.`,
      );
      return signalExitCode(stopped);
    }
    if (sink !== undefined) {
      const resumed = done.size > 0 ? `, ${done.size} already there` : '';
      note(
        `${jsonl}: ${counted(written, 'line')} written (${counted(failed, 'error')}${resumed}); ${counted(run.skipped, 'file')} skipped, not images`,
      );
    } else {
      // From here the answer is complete: a signal takes its default action, as for any command printing to a pipe.
      interruption.dispose();
      const ordered = results.filter((r) => r !== undefined);
      process.stdout.write(settings.json ? `${JSON.stringify(ordered)}\n` : formatTable(ordered, lang));
    }
    return failed > 0 ? 1 : 0;
  } finally {
    interruption.dispose();
    await sink?.close();
    await classifier.close();
  }
}

/**
 * `<dir>/<image name>.cam.png` for each file, made unique when two inputs share a name; creates `dir`.
 * @throws ResnetServeError FILESYSTEM_ERROR when the folder cannot be made.
 */
async function overlayPaths(dir: string, files: readonly string[]): Promise<string[]> {
  await mkdir(dir, { recursive: true }).catch((cause: unknown) => {
    throw fileSystemFailed(`Creating ${dir}`, cause);
  });
  const taken = new Set<string>();
  return files.map((file) => {
    const stem = basename(file, extname(file));
    let name = `${stem}.cam.png`;
    for (let n = 2; taken.has(name); n++) name = `${stem}-${n}.cam.png`;
    taken.add(name);
    return join(dir, name);
  });
}
