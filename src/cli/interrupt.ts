import { constants } from 'node:os';

/** The status a shell reports for a process ended by `signal`: 128 + its number, 130 for SIGINT and 143 for SIGTERM. */
export function signalExitCode(signal: NodeJS.Signals): number {
  return 128 + constants.signals[signal];
}

/** The signals that ask a command to stop: Ctrl-C, and what `kill`, Kubernetes and `docker stop` send. */
const STOP_SIGNALS: readonly NodeJS.Signals[] = ['SIGINT', 'SIGTERM'];

export interface Interruption {
  /** Aborted at the first SIGINT or SIGTERM. */
  readonly signal: AbortSignal;
  /** That first signal, once it came. */
  readonly received: NodeJS.Signals | undefined;
  /** Removes the handlers: the signals' default actions apply again. */
  dispose(): void;
}

export interface InterruptOptions {
  /** Injected for tests. Default {@link dieOf}. */
  exit?(signal: NodeJS.Signals): void;
}

/**
 * Ends the process by the signal's default action, as if it had never been caught: the shell reports 128 + its
 * number. Not `process.exit`, which runs the native teardown while ONNX Runtime or sharp may be mid-call and then
 * aborts ("terminate called after throwing an instance of 'Napi::Error'", SIGABRT) — except as PID 1 (the image's
 * command), which the kernel shields from a signal it has no handler for: there `process.exit` is the only way out.
 */
function dieOf(signal: NodeJS.Signals): void {
  if (process.pid === 1) process.exit(signalExitCode(signal));
  process.removeAllListeners(signal);
  process.kill(process.pid, signal);
}

/**
 * Catches SIGINT and SIGTERM for a command that can stop cleanly: the first aborts {@link Interruption.signal}, so
 * the command finishes what it is on and says where it stopped; a second exits at once with the signal's status,
 * for when finishing takes longer than the user will wait.
 */
export function catchInterrupts(options: InterruptOptions = {}): Interruption {
  const exit = options.exit ?? dieOf;
  const controller = new AbortController();
  let received: NodeJS.Signals | undefined;
  const onSignal = (signal: NodeJS.Signals): void => {
    if (received !== undefined) {
      exit(signal);
      return;
    }
    received = signal;
    controller.abort(signal);
  };
  for (const signal of STOP_SIGNALS) process.on(signal, onSignal);
  return {
    signal: controller.signal,
    get received() {
      return received;
    },
    dispose() {
      for (const signal of STOP_SIGNALS) process.off(signal, onSignal);
    },
  };
}
