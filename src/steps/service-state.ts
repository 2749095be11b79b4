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
 * direct read are the same command. One getAllProcessInfo call answers every name, and the answer is
 * taken apart with shell builtins (XML_SH): one curl and no other process, however many names.
 */
const STATUS_SCRIPT = String.raw`out=$(
${SUPERVISOR_SOCK_SH}
[ -n "$sock" ] || exit 3
all=$(call getAllProcessInfo)
case "$all" in *'<fault>'*|'') exit 3 ;; *'<methodResponse>'*) ;; *) exit 3 ;; esac
for n in "$@"; do
  rest=$all found=
  while :; do
    case "$rest" in *'</struct>'*) ;; *) break ;; esac
    s=${'${'}rest%%'</struct>'*}; rest=${'${'}rest#*'</struct>'}
    member "$s" name || continue; nm=$v
    member "$s" group; [ "$n" = "$nm" ] || [ "$n" = "$v:$nm" ] || continue
    member "$s" statename; st=$v
    [ -n "$st" ] || exit 3
    if [ "$st" = RUNNING ]; then member "$s" pid; echo "$n $st pid $v"; else echo "$n $st"; fi
    found=1; break
  done
  [ -n "$found" ] || echo "$n: ERROR (no such process)"
done
) && [ -n "$out" ] && { printf '%s\n' "$out"; exit 0; }
exec supervisorctl status "$@"`;

/** The argv that reads supervisord's status of `names` (see STATUS_SCRIPT). */
export const supervisorStatusArgv = (names: readonly string[]) => ['sh', '-c', STATUS_SCRIPT, 'flanctl-supervisor-status', ...names];

export async function supervisorStatus(conn: Connector, names: string[]): Promise<Record<string, ProgramStatus>> {
  return statusOf(conn, await conn.exec(supervisorStatusArgv(names)), names);
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

/**
 * Status lines once no named program is STARTING / BACKOFF / STOPPING, or TIMEOUT_S passed: the
 * status read (STATUS_SCRIPT) polled on the node every 0.1 s, one round trip instead of SSH polls.
 */
const SETTLE_SCRIPT = String.raw`t=$1; shift
st() (
${STATUS_SCRIPT}
)
end=$(( $(date +%s) + t ))
while :; do
  out=$(st "$@"); rc=$?
  case "$out" in *' STARTING'*|*' BACKOFF'*|*' STOPPING'*) ;; *) break ;; esac
  [ $(date +%s) -ge $end ] && break
  sleep 0.1 2>/dev/null || sleep 1
done
printf '%s\n' "$out"
exit $rc`;

/** The argv that waits on the node until `names` settle (SETTLE_SCRIPT); fakes answer it as a status read. */
export const supervisorSettleArgv = (names: readonly string[], timeoutMs: number) =>
  ['sh', '-c', SETTLE_SCRIPT, 'flanctl-supervisor-settle', String(Math.max(1, Math.ceil(timeoutMs / 1000))), ...names];

function statusOf(conn: Connector, r: { code: number; stdout: string; stderr: string }, names: string[]): Record<string, ProgramStatus> {
  if (r.code === 127) throw new FlanctlError(`${conn.name}: supervisorctl not found`);
  if (supervisordUnreachable(r)) {
    throw new FlanctlError(`${conn.name}: supervisord is not reachable: ${(r.stdout + r.stderr).trim()}`, { hint: 'Start supervisord on the node.' });
  }
  return parseSupervisorStatus(r.stdout, names);
}

/**
 * supervisorctl status once no program is STARTING / BACKOFF / STOPPING (or timeoutMs passed).
 * Read-only. The first read is the plain status argv (a facts batch may answer it); only a
 * transient state costs one more round trip, which waits on the node.
 */
export async function settledSupervisorStatus(conn: Connector, names: string[], timeoutMs = 30_000, opts: { read?: string[] } = {}): Promise<Record<string, ProgramStatus>> {
  // opts.read: the first read names these (a superset of names), so it is the same argv as another step's.
  const first = await supervisorStatus(conn, opts.read ?? names);
  if (!names.some((n) => TRANSIENT.has(first[n].state))) return first;
  return waitSupervisorSettled(conn, names, timeoutMs);
}

/** Like settledSupervisorStatus, in one round trip that waits on the node (no first plain read). */
export async function waitSupervisorSettled(conn: Connector, names: string[], timeoutMs = 30_000): Promise<Record<string, ProgramStatus>> {
  return statusOf(conn, await conn.exec(supervisorSettleArgv(names, timeoutMs), { timeoutMs: timeoutMs + 30_000 }), names);
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

