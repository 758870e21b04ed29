import { getHeapStatistics } from 'node:v8';
import type { FastifyInstance } from 'fastify';

/** How often the server looks at its external memory. */
const CHECK_MS = 1000;
/** A request that arrived this recently means the server is not quiet. */
const QUIET_MS = 500;
/** External (Buffer) memory this far above its floor makes a collection worth it. */
const WORTH_BYTES = 16 * 1024 * 1024;
/** After collections that freed little (the memory is still in use, e.g. an upload in progress), wait up to this long. */
const MAX_BACKOFF_MS = 4000;

/**
 * One full garbage collection once the server is quiet and its external memory stands well above its floor.
 * Upload buffers, socket reads and sharp's decoded pixels are external memory that V8 frees only at a GC, and an
 * idle server runs none: after 30 aborted 9.5 MB uploads, 300 MB stayed allocated (measured) until later traffic
 * happened to collect it. The check reads V8's external memory once a second (no per-request
 * bookkeeping that an aborted request could leave unbalanced); the collection runs only when no request arrived
 * for {@link QUIET_MS}, so it does not delay answers, backs off while it frees little (the memory is still in
 * use), and only where `gc` is exposed (the `resnet-serve` command exposes it). It takes ~10-30 ms here.
 *
 * The figure is `getHeapStatistics().external_memory`, the very number `process.memoryUsage().external` reports
 * (node_process_methods.cc), without the RSS read that comes with it: that opens /proc/self/stat, and threw
 * EMFILE (`uv_resident_set_memory`) from this timer, killing the process, when connections had taken every
 * descriptor (#19, test/integration/server-fd-exhaustion.test.ts).
 */
export function installQuietGc(app: FastifyInstance): void {
  const gc = globalThis.gc;
  if (gc === undefined) return;
  let lastRequestAt = 0;
  let floor = Number.POSITIVE_INFINITY;
  let backoffMs = CHECK_MS;
  let nextAt = 0;
  app.addHook('onRequest', async () => {
    lastRequestAt = Date.now();
    backoffMs = CHECK_MS;
  });
  const timer = setInterval(() => {
    const now = Date.now();
    const before = externalBytes();
    floor = Math.min(floor, before);
    if (now < nextAt || now - lastRequestAt < QUIET_MS || before - floor < WORTH_BYTES) return;
    gc();
    const after = externalBytes();
    floor = Math.min(floor, after);
    backoffMs = before - after < WORTH_BYTES / 2 ? Math.min(backoffMs * 2, MAX_BACKOFF_MS) : CHECK_MS;
    nextAt = now + backoffMs;
  }, CHECK_MS);
  timer.unref();
  app.addHook('onClose', async () => clearInterval(timer));
}

function externalBytes(): number {
  return getHeapStatistics().external_memory;
}
