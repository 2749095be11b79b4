/**
 * SIGINT / SIGTERM during a command that changes hosts (issue 10): the first signal stops new work
 * (the engine starts no further step or target; the step in flight, e.g. a remote write, finishes),
 * the command then prints what was applied and exits 130 / 143. A second signal exits at once.
 * Commands install the handlers (installInterruptHandlers); the engine only asks interrupted().
 */
let received: NodeJS.Signals | undefined;
let installed: (() => void) | undefined;

/** The signal received since the handlers were installed, if any. */
export function interrupted(): NodeJS.Signals | undefined {
  return received;
}

/** 130 for SIGINT, 143 for SIGTERM (128 + signal number, as shells report). */
export function signalExitCode(sig: NodeJS.Signals): number {
  return sig === 'SIGINT' ? 130 : sig === 'SIGTERM' ? 143 : 1;
}

/** Install the handlers once; `say` tells the operator what happens next (stderr). */
export function installInterruptHandlers(
  say: (line: string) => void = (l) => process.stderr.write(`${l}\n`),
  what = 'finishing the changes in flight and starting no new ones',
): void {
  if (installed) return;
  const handler = (sig: NodeJS.Signals) => {
    if (received) {
      say(`${sig} again: exiting now; in-flight changes may be left half-done (rerun the command to converge)`);
      process.exit(signalExitCode(sig));
    }
    received = sig;
    say(`${sig}: ${what} (send it again to exit at once)`);
  };
  process.on('SIGINT', handler);
  process.on('SIGTERM', handler);
  installed = () => {
    process.off('SIGINT', handler);
    process.off('SIGTERM', handler);
  };
}

/** Tests: forget a received signal and remove the handlers. */
export function resetInterrupts(): void {
  installed?.();
  installed = undefined;
  received = undefined;
}

/** Tests (and the engine's own unit tests): behave as if `sig` had been received. */
export function simulateInterrupt(sig: NodeJS.Signals): void {
  received = sig;
}
