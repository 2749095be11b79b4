/**
 * Local processes for the lab: run a command (argv only) and identify processes by PID + start time,
 * so the lab never signals a process it did not start (PIDs are reused).
 */
import { execFile } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { ExecError } from '../errors.js';

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Run argv; resolves for any exit code. */
export function sh(argv: string[], opts: { input?: string; timeoutMs?: number; env?: NodeJS.ProcessEnv } = {}): Promise<RunResult> {
  return new Promise((resolvePromise) => {
    const child = execFile(argv[0], argv.slice(1), { encoding: 'utf8', timeout: opts.timeoutMs ?? 60_000, maxBuffer: 64 << 20, env: opts.env, cwd: '/' },
      (err, stdout, stderr) => {
        const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : 127) : 0;
        resolvePromise({ code, stdout, stderr: stderr || (err && code === 127 ? err.message : '') });
      });
    if (opts.input !== undefined) child.stdin?.end(opts.input);
  });
}

/** Run argv; throws ExecError (host "localhost") on a non-zero exit; returns stdout. */
export async function shOk(argv: string[], opts: { input?: string; timeoutMs?: number; env?: NodeJS.ProcessEnv } = {}): Promise<string> {
  const r = await sh(argv, opts);
  if (r.code !== 0) throw new ExecError('localhost', argv, r.code, r.stderr || r.stdout);
  return r.stdout;
}

/** A process identity: PID plus its start time in clock ticks since boot (/proc/<pid>/stat field 22). */
export interface ProcId {
  pid: number;
  start: number;
}

function statFields(pid: number): string[] | undefined {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // comm may contain spaces and parentheses: fields start after the last ')'.
    return text.slice(text.lastIndexOf(')') + 2).split(' ');
  } catch {
    return undefined;
  }
}

/** The identity of a live process, or undefined. */
export function procId(pid: number): ProcId | undefined {
  const f = statFields(pid);
  if (!f || f[0] === 'Z' || f[0] === 'X') return undefined;
  return { pid, start: Number(f[19]) };
}

/** True when the recorded process is still the same live process. */
export function isAlive(p: ProcId | undefined): boolean {
  if (!p) return false;
  const now = procId(p.pid);
  return now !== undefined && now.start === p.start;
}

/** Direct children of a process (scan of /proc; the kernel here has no /proc/<pid>/task/<pid>/children).
 * With `newerThan`, only PIDs above it are read first (a fresh child almost always has a higher PID). */
export function childrenOf(ppid: number, newerThan = 0): number[] {
  const pids = readdirSync('/proc').filter((e) => /^\d+$/.test(e)).map(Number);
  const scan = (list: number[]) => list.filter((pid) => {
    const f = statFields(pid);
    return f !== undefined && Number(f[1]) === ppid;
  });
  const found = scan(pids.filter((p) => p > newerThan));
  return found.length || !newerThan ? found : scan(pids.filter((p) => p <= newerThan));
}

/** Signal a recorded process only if it is still the one we started. Returns whether it was signalled. */
export function signalIfOurs(p: ProcId | undefined, signal: NodeJS.Signals): boolean {
  if (!p || !isAlive(p)) return false;
  try {
    process.kill(p.pid, signal);
    return true;
  } catch {
    return false;
  }
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Poll until fn() is truthy or the deadline passes; returns the last value. */
export async function waitFor<T>(fn: () => T | Promise<T>, timeoutMs: number, intervalMs = 50): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v || Date.now() >= deadline) return v;
    await sleep(intervalMs);
  }
}

/** Wait until none of the recorded processes is alive. */
export async function waitGone(ps: (ProcId | undefined)[], timeoutMs: number): Promise<boolean> {
  return waitFor(() => ps.every((p) => !isAlive(p)), timeoutMs, 25);
}
