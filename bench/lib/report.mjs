// The results table: one row per metric, one column per target, then ours / baseline ratios.

const fmt = (digits) => (x) => (x === undefined || Number.isNaN(x) ? 'n/a' : x.toFixed(digits));

/**
 * Every row of the table. `get` reads a target's result (undefined → n/a); `higher` marks rows where a
 * larger number is better (throughput), so readers know which way a ratio points.
 */
export function buildRows(imageNames, sweepLevels) {
  const rows = [];
  const add = (section, label, unit, get, { digits = 1, higher = false } = {}) =>
    rows.push({ section, label, unit, get, format: fmt(digits), higher });
  add('inference', 'per-image inference, mean', 'ms', (r) => r.infer?.infer.mean);
  add('inference', 'per-image inference, p50', 'ms', (r) => r.infer?.infer.p50);
  add('inference', 'per-image inference, p99', 'ms', (r) => r.infer?.infer.p99);
  // The fastest run: the least disturbed by anything else on the machine.
  add('inference', 'per-image inference, min', 'ms', (r) => r.infer?.infer.min);
  add('inference', 'session alone, back to back, mean', 'ms', (r) => r.infer?.engine?.mean);
  add('inference', 'session alone, back to back, p50', 'ms', (r) => r.infer?.engine?.p50);
  for (const name of imageNames) add('inference', `preprocess ${name}, mean`, 'ms', (r) => r.infer?.preprocess[name]?.mean);
  // The resample kernels on the same decoded pixels, and header + decode + each kernel (before / after #11).
  for (const name of imageNames) {
    add('kernels', `resample ${name}, TypeScript reference, p50`, 'ms', (r) => r.infer?.kernels?.[name]?.resampleReference?.p50, {
      digits: 2,
    });
    add('kernels', `resample ${name}, WebAssembly SIMD, p50`, 'ms', (r) => r.infer?.kernels?.[name]?.resampleSimd?.p50, { digits: 2 });
    add('kernels', `preprocess ${name} with the TypeScript kernel, mean`, 'ms', (r) => r.infer?.kernels?.[name]?.preprocessReference?.mean);
    add('kernels', `preprocess ${name} with the SIMD kernel, mean`, 'ms', (r) => r.infer?.kernels?.[name]?.preprocessSimd?.mean);
  }
  add('inference', 'inference process peak RSS (VmHWM)', 'MB', (r) => r.infer?.peakRssMb);
  // The page's on-device mode in Chromium on the same machine (bench/on-device.mjs), 640×480 JPEG.
  add('on-device', 'on-device (Chromium): first visit, model download + session start', 'ms', (r) => r.onDevice?.isolated.startMs, {
    digits: 0,
  });
  add('on-device', 'on-device: inference p50, cross-origin isolated (ORT threads)', 'ms', (r) => r.onDevice?.isolated.inference.p50, {
    digits: 0,
  });
  add('on-device', 'on-device: inference p50, one thread', 'ms', (r) => r.onDevice?.single.inference.p50, { digits: 0 });
  add('on-device', 'on-device: decode + preprocess p50', 'ms', (r) => r.onDevice?.isolated.decode.p50, { digits: 0 });
  add(
    'on-device',
    'on-device: main-thread tasks over 50 ms while classifying',
    'count',
    (r) => (r.onDevice === undefined ? undefined : r.onDevice.isolated.longTasks + r.onDevice.single.longTasks),
    { digits: 0 },
  );
  add('load', 'classifier load alone', 'ms', (r) => r.infer?.loadMs, { digits: 0 });
  add('load', 'process start → /readyz 200', 'ms', (r) => r.server?.startupMs, { digits: 0 });
  for (const name of imageNames) {
    add('http', `HTTP ${name}, mean`, 'ms', (r) => r.server?.e2e[name]?.mean);
    add('http', `HTTP ${name}, p50`, 'ms', (r) => r.server?.e2e[name]?.p50);
    add('http', `HTTP ${name}, p99`, 'ms', (r) => r.server?.e2e[name]?.p99);
  }
  add('http', 'server CPU time per request (all images)', 'ms', (r) => r.server?.cpuMsPerRequest);
  add('protocols', '/predict 640×480 JPEG, alternating with OIP, p50', 'ms', (r) => r.server?.protocols?.predict.p50);
  add('protocols', 'OIP binary 640×480 JPEG, alternating with /predict, p50', 'ms', (r) => r.server?.protocols?.oip.p50);
  add('protocols', 'OIP overhead over /predict (p50)', '%', (r) => r.server?.protocols?.overheadPct);
  add('protocols', 'OIP batch of 8 × 640×480 JPEG, per request, p50', 'ms', (r) => r.server?.protocols?.batch8.p50);
  add('protocols', 'OIP batch of 8, per image', 'ms', (r) =>
    r.server?.protocols === undefined ? undefined : r.server.protocols.batch8.p50 / 8,
  );
  add('memory', 'Node + onnxruntime-node loaded, no session', 'MB', (r) => r.floor?.beforeSessionMb);
  add('memory', 'Node + ONNX Runtime session alone, after 20 runs (VmHWM)', 'MB', (r) => r.floor?.hwmMb);
  add('memory', 'server RSS when ready (idle)', 'MB', (r) => r.server?.idleRssMb);
  add('memory', 'RSS growth under 5 concurrent (max − before)', 'MB', (r) => r.server?.conc5.growthMb);
  add('memory', 'server peak RSS over the run (VmHWM)', 'MB', (r) => r.server?.hwmMb);
  for (const c of sweepLevels) {
    add('concurrency', `${c} clients: throughput`, 'img/s', (r) => r.server?.sweep[c]?.throughput, { higher: true });
    add('concurrency', `${c} clients: p50`, 'ms', (r) => r.server?.sweep[c]?.p50);
    add('concurrency', `${c} clients: p99`, 'ms', (r) => r.server?.sweep[c]?.p99);
    add('concurrency', `${c} clients: failed requests`, 'count', (r) => r.server?.sweep[c]?.failed, { digits: 0 });
  }
  add('soak', 'soak: peak RSS after 1,000 mixed requests (VmHWM)', 'MB', (r) => r.soak?.hwmMb);
  add('soak', 'soak: RSS at the end', 'MB', (r) => r.soak?.rssEndMb);
  add('soak', 'soak: failed requests', 'count', (r) => r.soak?.failed, { digits: 0 });
  return rows;
}

function ratio(ours, base) {
  return ours === undefined || base === undefined || Number.isNaN(ours) || Number.isNaN(base) || base === 0
    ? 'n/a'
    : (ours / base).toFixed(2);
}

/**
 * @param rows from buildRows
 * @param targets [{ label, result }] in column order
 * @param baseline the target ratios are taken against, or undefined
 * @returns {{ header: string[], body: string[][] }}
 */
export function tabulate(rows, targets, baseline) {
  const ours = targets.filter((t) => t !== baseline);
  const header = ['metric', 'unit', ...targets.map((t) => t.label), ...(baseline ? ours.map((t) => `${t.label} / ${baseline.label}`) : [])];
  const body = rows.map((row) => {
    const values = targets.map((t) => (t.result ? row.get(t.result) : undefined));
    const ratios = baseline
      ? ours.map((t) => ratio(t.result ? row.get(t.result) : undefined, baseline.result ? row.get(baseline.result) : undefined))
      : [];
    return [row.label + (row.higher ? ' (higher is better)' : ''), row.unit, ...values.map(row.format), ...ratios];
  });
  return { header, body };
}

/** Fixed-width text, for the terminal. */
export function toText({ header, body }) {
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((r) => r[i].length)));
  const line = (cells) => cells.map((c, i) => (i < 2 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ');
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...body.map(line)].join('\n');
}

/** A GitHub markdown table. */
export function toMarkdown({ header, body }) {
  const row = (cells) => `| ${cells.join(' | ')} |`;
  return [row(header), row(header.map((_, i) => (i < 2 ? '---' : '---:'))), ...body.map(row)].join('\n');
}
