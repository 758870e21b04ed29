import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';

/** The kernel's ephemeral range, where `listen(0)` picks ports (Linux default 32768–60999). */
function ephemeralRange(): [number, number] {
  try {
    const [low, high] = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/).map(Number);
    if (low !== undefined && high !== undefined && Number.isInteger(low) && Number.isInteger(high)) return [low, high];
  } catch {
    // Not Linux: assume the default.
  }
  return [32_768, 60_999];
}

function bindable(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = createServer();
    probe.once('error', () => resolve(false));
    probe.listen(port, '127.0.0.1', () => probe.close(() => resolve(true)));
  });
}

/**
 * A free port on 127.0.0.1 for a listener that cannot take port 0 (the gRPC port, where 0 means "off"). Chosen
 * below the ephemeral range, so an HTTP server started on port 0 afterwards can never be given the same one
 * (a port from `listen(0)` then closed could be, and was: EADDRINUSE once in a full run).
 */
export async function freePort(): Promise<number> {
  const [low] = ephemeralRange();
  const start = Math.max(1024, low - 12_000);
  for (let attempt = 0; attempt < 50; attempt++) {
    const port = start + Math.floor(Math.random() * (low - start));
    if (await bindable(port)) return port;
  }
  throw new Error('no free port below the ephemeral range after 50 tries');
}
