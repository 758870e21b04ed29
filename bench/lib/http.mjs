// HTTP clients for the benchmark: fetch (undici) on 127.0.0.1 only, bounded in count and time.

const BOUNDARY = '----resnet-serve-bench-7f3a91';

/** A ready multipart/form-data body with one `file` part, built once so clients spend no time encoding. */
export function multipartBody(bytes, filename, contentType) {
  const head =
    `--${BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="${filename}"\r\n` + `Content-Type: ${contentType}\r\n\r\n`;
  return {
    name: filename,
    body: Buffer.concat([Buffer.from(head), bytes, Buffer.from(`\r\n--${BOUNDARY}--\r\n`)]),
    contentType: `multipart/form-data; boundary=${BOUNDARY}`,
  };
}

/**
 * An Open Inference Protocol request for `images` as tritonclient builds it: the JSON, then a BYTES tensor under
 * the binary tensor data extension (each image behind its 4-byte little-endian length), top-5 classification.
 */
export function oipBinaryBody(images, name) {
  const tensor = Buffer.concat(images.flatMap((bytes) => [Buffer.from(new Uint32Array([bytes.length]).buffer), bytes]));
  const json = Buffer.from(
    JSON.stringify({
      inputs: [{ name: 'image', shape: [images.length], datatype: 'BYTES', parameters: { binary_data_size: tensor.length } }],
      outputs: [{ name: 'probabilities', parameters: { classification: 5, binary_data: false } }],
    }),
  );
  return {
    name,
    body: Buffer.concat([json, tensor]),
    contentType: 'application/octet-stream',
    headers: { 'inference-header-content-length': String(json.length) },
  };
}

function assertLoopback(url) {
  const { hostname } = new URL(url);
  if (hostname !== '127.0.0.1' && hostname !== 'localhost' && hostname !== '[::1]') {
    throw new Error(`bench talks to the loopback interface only, not ${hostname}`);
  }
}

/** One POST; status 0 means the request failed without an HTTP answer (refused, reset, timed out). */
export async function post(url, upload, timeoutMs = 60_000) {
  assertLoopback(url);
  const t0 = performance.now();
  try {
    const response = await fetch(url, {
      method: 'POST',
      body: upload.body,
      headers: { 'content-type': upload.contentType, ...upload.headers },
      signal: AbortSignal.timeout(timeoutMs),
    });
    await response.arrayBuffer();
    return { status: response.status, ms: performance.now() - t0 };
  } catch {
    return { status: 0, ms: performance.now() - t0 };
  }
}

/** GET `url` until it answers 200; fails when `child` exits first or `timeoutMs` passes. */
export async function waitReady(url, child, timeoutMs = 180_000) {
  assertLoopback(url);
  const deadline = performance.now() + timeoutMs;
  let exited = false;
  void child.exited.then(() => {
    exited = true;
  });
  while (performance.now() < deadline) {
    if (exited) throw new Error(`the server exited before it was ready: ${child.stderrTail.trim().split('\n').slice(-3).join(' | ')}`);
    try {
      const response = await fetch(url, { signal: AbortSignal.timeout(2000) });
      await response.arrayBuffer();
      if (response.status === 200) return;
    } catch {
      // Not listening yet.
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  throw new Error(`the server was not ready within ${timeoutMs} ms`);
}

/**
 * Closed-loop load: `concurrency` clients, each sending its next request when the last one is answered,
 * cycling through `uploads`, until `maxRequests` were sent or `durationMs` passed.
 * @returns latencies of the 2xx answers, counts by status, and the wall time.
 */
export async function closedLoop(url, uploads, { concurrency, maxRequests, durationMs = Infinity, timeoutMs = 60_000 }) {
  const latencies = [];
  const statuses = {};
  let issued = 0;
  const t0 = performance.now();
  const deadline = t0 + durationMs;
  const client = async () => {
    while (issued < maxRequests && performance.now() < deadline) {
      const upload = uploads[issued++ % uploads.length];
      const { status, ms } = await post(url, upload, timeoutMs);
      statuses[status] = (statuses[status] ?? 0) + 1;
      if (status >= 200 && status < 300) latencies.push(ms);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, client));
  const elapsedMs = performance.now() - t0;
  return { latencies, statuses, ok: latencies.length, failed: issued - latencies.length, elapsedMs };
}
