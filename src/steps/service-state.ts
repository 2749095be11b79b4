/**
 * flanneld's service state as read from the node: supervisorctl status parsing, and the one
 * definition of "up" shared by the service step, verify and switch-backend (issue 10).
 */
import type { Connector } from '../connector/connector.js';
import { FlanctlError } from '../errors.js';
import { sleep } from './util.js';
import { SUPERVISOR_SOCK_SH } from './flanneld-ctl.sh.js';

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

/**
 * `supervisorctl status NAME…` lines, read through supervisord's XML-RPC socket with curl when the
 * node allows it (a few ms, where supervisorctl costs a Python start-up, ~0.2 s CPU per node: no curl,
 * no unix socket in supervisorctl's config, or credentials fall back to `supervisorctl status` in the
 * same round trip, with its output and exit code). One argv, so the facts batch (Step.reads) and a
 * direct read are the same command.
 */
const STATUS_SCRIPT = String.raw`out=$(
${SUPERVISOR_SOCK_SH}
[ -n "$sock" ] || exit 3
for n in "$@"; do
  r=$(rpc getProcessInfo "$n")
  case "$r" in
  *BAD_NAME*) echo "$n: ERROR (no such process)" ;;
  *'<fault>'*|'') exit 3 ;;
  *) st=$(printf '%s' "$r" | sed -n 's/.*<name>statename<\/name><value><string>\([A-Z]*\)<.*/\1/p')
     pid=$(printf '%s' "$r" | sed -n 's/.*<name>pid<\/name><value><int>\([0-9]*\)<.*/\1/p')
     [ -n "$st" ] || exit 3
     if [ "$st" = RUNNING ]; then echo "$n $st pid $pid"; else echo "$n $st"; fi ;;
  esac
done
) && [ -n "$out" ] && { printf '%s\n' "$out"; exit 0; }
exec supervisorctl status "$@"`;

/** The argv that reads supervisord's status of `names` (see STATUS_SCRIPT). */
export const supervisorStatusArgv = (names: readonly string[]) => ['sh', '-c', STATUS_SCRIPT, 'flanctl-supervisor-status', ...names];

export async function supervisorStatus(conn: Connector, names: string[]): Promise<Record<string, ProgramStatus>> {
  const r = await conn.exec(supervisorStatusArgv(names));
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

