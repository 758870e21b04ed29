/**
 * Resolves once `condition()` holds, checking every `intervalMs`; rejects after `timeoutMs` naming `what`.
 * For states a test cannot be told about by an event: a bounded poll, never a fixed sleep.
 */
export async function waitFor(what: string, condition: () => boolean | Promise<boolean>, timeoutMs = 5000, intervalMs = 5): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!(await condition())) {
    if (performance.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}
