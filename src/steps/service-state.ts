/**
 * flanneld's service state as read from the node: supervisorctl status parsing, and the one
 * definition of "up" shared by the service step, verify and switch-backend (issue 10).
 */
import type { Connector } from '../connector/connector.js';
import { FlanctlError } from '../errors.js';
import { sleep } from './util.js';

export interface ProgramStatus {
  state: string; // RUNNING, STARTING, STOPPED, BACKOFF, FATAL, EXITED, MISSING
  pid?: number;
}

export function parseSupervisorStatus(stdout: string, names: string[]): Record<string, ProgramStatus> {
  const out: Record<string, ProgramStatus> = {};
  for (const name of names) out[name] = { state: 'MISSING' };
  for (const line of stdout.split('\n')) {
    const m = /^(\S+?):?\s+([A-Z]+)\b(.*)$/.exec(line.trim());
    if (!m || !(m[1] in out)) continue;
    if (m[2] === 'ERROR') continue; // "flanneld: ERROR (no such process)"
    const pid = /pid (\d+)/.exec(m[3]);
    out[m[1]] = { state: m[2], ...(pid ? { pid: Number(pid[1]) } : {}) };
  }
  return out;
}

/** `supervisorctl status` answered without supervisord behind it (not running, socket missing). */
export const supervisordUnreachable = (r: { stdout: string; stderr: string }) =>
  /refused|no such file|SHUTDOWN_STATE|unix:\/\//i.test(r.stdout + r.stderr) && !/[A-Z]{4,}\s+pid/.test(r.stdout);

export async function supervisorStatus(conn: Connector, names: string[]): Promise<Record<string, ProgramStatus>> {
  const r = await conn.exec(['supervisorctl', 'status', ...names]);
  if (r.code === 127) throw new FlanctlError(`${conn.name}: supervisorctl not found`);
  if (supervisordUnreachable(r)) {
    throw new FlanctlError(`${conn.name}: supervisord is not reachable: ${(r.stdout + r.stderr).trim()}`, { hint: 'Start supervisord on the node.' });
  }
  return parseSupervisorStatus(r.stdout, names);
}

/**
 * The one definition of "up" (issue 10): supervisord RUNNING (past startsecs) or systemd active.
 * STARTING / BACKOFF / activating are on their way, not up: whoever sees them waits for them to
 * settle (settledSupervisorStatus, settledSystemdActive) instead of counting them either way.
 */
export const isUp = (s: ProgramStatus) => s.state === 'RUNNING';
const TRANSIENT = new Set(['STARTING', 'BACKOFF', 'STOPPING']);
const SYSTEMD_TRANSIENT = new Set(['activating', 'deactivating', 'reloading']);
/** Not (on its way to being) stopped: stop waits until this is false. */
export const notDown = (s: ProgramStatus) => s.state === 'RUNNING' || TRANSIENT.has(s.state);

/** supervisorctl status once no program is STARTING / BACKOFF / STOPPING (or timeoutMs passed). Read-only. */
export async function settledSupervisorStatus(conn: Connector, names: string[], timeoutMs = 30_000): Promise<Record<string, ProgramStatus>> {
  let last = await supervisorStatus(conn, names);
  const deadline = Date.now() + timeoutMs;
  while (names.some((n) => TRANSIENT.has(last[n].state)) && Date.now() < deadline) {
    await sleep(500);
    last = await supervisorStatus(conn, names);
  }
  return last;
}

/** systemctl is-active flanneld once it is not activating / deactivating (or timeoutMs passed). Read-only. */
export async function settledSystemdActive(conn: Connector, timeoutMs = 30_000): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const active = (await conn.exec(['systemctl', 'is-active', 'flanneld'])).stdout.trim() || 'unknown';
    if (!SYSTEMD_TRANSIENT.has(active) || Date.now() >= deadline) return active;
    await sleep(500);
  }
}

