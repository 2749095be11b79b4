/**
 * FLANCTL_TRACE=1: one stderr line per phase boundary of a command (`[trace 1234 ms] preflight done`),
 * in milliseconds since the process started, so where a slow run spends its time can be read without a
 * profiler. Off by default; never part of the output contract (--json stays clean on stdout).
 */
const on = !!process.env.FLANCTL_TRACE;

export function trace(label: string): void {
  if (on) process.stderr.write(`[trace ${performance.now().toFixed(0)} ms] ${label}\n`);
}
