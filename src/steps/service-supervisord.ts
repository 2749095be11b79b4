/**
 * The service step under supervisord (service.ts builds the step): flanneld and the flanctl-iptables
 * watcher as supervisord programs. No fixed waits and no status polls over SSH (issue 15 item 2):
 *  - `supervisorctl update` (re)starts exactly the programs whose section is new or changed, without
 *    waiting; the same round trip first reads subnet.env's token, so flanneld's readiness after it
 *    is the ctl script's `wait` (subnet.env rewritten since, up, /healthz), and a program that
 *    `update` just (re)started is never restarted again (LAB-NOTES.md);
 *  - otherwise flanneld is started / restarted by the ctl script, which waits on the node;
 *  - the watcher is started through supervisord's XML-RPC socket (startProcess wait=false) before
 *    flanneld's wait, so its startsecs overlaps flanneld's start, and its final check (RUNNING) is
 *    one round trip that waits on the node.
 * flanneld counts as up when the ctl script says ready (its own readiness; startsecs is only 1).
 */
import type { Connector } from '../connector/connector.js';
import { FlanctlError } from '../errors.js';
import type { Inventory } from '../model/inventory.js';
import type { Change, Step, StepContext } from '../engine/step.js';
import { SUPERVISORD_PROGRAMS, flanctlManagesIptables } from '../model/templates.js';
import { SUPERVISOR_PROBE_SH, SUPERVISOR_SOCK_SH } from './flanneld-ctl.sh.js';
import { flanneldLogTail, restartFlanneld, startFlanneld, waitFlanneldReady, type ReadyOptions } from './flanneld-ready.js';
import { isUp, settledSupervisorStatus, supervisorStatusArgv, waitSupervisorSettled, type ProgramStatus } from './service-state.js';
import { onNode } from './util.js';

const SERVICE_ID = 'service:flanneld';

/** supervisorctl's output as an error, unless it only says "already started" / "not running". */
function throwOnError(conn: Connector, what: string, r: { code: number; stdout: string; stderr: string }): string {
  const text = `${r.stdout}${r.stderr}`;
  const benign = text.replace(/ERROR \((already started|not running)\)/g, '');
  if (/ERROR/.test(benign) || (r.code !== 0 && benign === text)) {
    throw new FlanctlError(`${conn.name}: ${what}: ${text.trim() || `exit ${r.code}`}`);
  }
  return text;
}

export async function supervisorctl(conn: Connector, args: string[]): Promise<string> {
  return throwOnError(conn, `supervisorctl ${args.join(' ')}`, await conn.exec(['supervisorctl', ...args]));
}

/**
 * $1 = subnet.env: its token first (flanneld-ctl.sh.ts's tok), then `supervisorctl update NAME…`
 * done the way supervisorctl does it (reloadConfig; per named group: removed → stop + remove,
 * changed → stop + remove + add, added → add; supervisord autostarts what was added) through
 * supervisord's socket, in supervisorctl's words: milliseconds instead of a Python start-up. Plain
 * `supervisorctl update` when the socket is not usable.
 */
const UPDATE_SCRIPT = String.raw`sf=$1; shift
stat -c '%i %y' "$sf" 2>/dev/null || echo none
${SUPERVISOR_SOCK_SH}
[ -n "$sock" ] || exec supervisorctl update "$@"
r=$(call reloadConfig)
case "$r" in *'<methodResponse>'*) ;; *) exec supervisorctl update "$@" ;; esac
if f=$(fault "$r"); then echo "ERROR: reloadConfig: $f"; exit 1; fi
# [[added], [changed], [removed]] → "1|2|3 NAME" lines
lists=$(printf '%s' "$r" | tr -d '\n' | sed 's/<value>/\n<value>/g' | awk '/^<value><array><data>/ {n++} /^<value><string>/ {gsub(/^<value><string>|<\/string>.*$/, ""); print n - 2, $0}')
rc=0
ok() { f=$(fault "$1") || return 0; echo "$n: ERROR ($f)"; rc=1; return 1; }
for n in "$@"; do
  case "$(printf '%s\n' "$lists" | awk -v n="$n" '$2 == n {print $1; exit}')" in
  3) ok "$(rpc stopProcessGroup "$n")" && echo "$n: stopped" && ok "$(rpc removeProcessGroup "$n")" && echo "$n: removed process group" ;;
  2) ok "$(rpc stopProcessGroup "$n")" && echo "$n: stopped" && ok "$(rpc removeProcessGroup "$n")" && ok "$(rpc addProcessGroup "$n")" && echo "$n: updated process group" ;;
  1) ok "$(rpc addProcessGroup "$n")" && echo "$n: added process group" ;;
  esac
done
exit $rc`;

/** `supervisorctl update NAME…`, with subnet.env's token read just before in the same round trip. */
async function updateWithToken(inv: Inventory, conn: Connector, names: string[]): Promise<{ since: string; out: string }> {
  const r = await conn.exec(['sh', '-c', UPDATE_SCRIPT, 'flanctl-supervisor-update', inv.flannel.subnetFile, ...names]);
  const nl = r.stdout.indexOf('\n');
  const since = (nl < 0 ? r.stdout : r.stdout.slice(0, nl)).trim() || 'none';
  const out = throwOnError(conn, `supervisorctl update ${names.join(' ')}`, { ...r, stdout: nl < 0 ? '' : r.stdout.slice(nl + 1) });
  return { since, out };
}

/**
 * `supervisorctl start|restart NAME…` without waiting for startsecs: startProcess(wait=false) through
 * supervisord's socket (stopProcess waits for the stop), answering in supervisorctl's words; plain
 * supervisorctl when the socket is not usable.
 */
const START_SCRIPT = String.raw`act=$1; shift
${SUPERVISOR_SOCK_SH}
${SUPERVISOR_PROBE_SH}
[ -n "$sock" ] || exec supervisorctl "$act" "$@"
rc=0
for n in "$@"; do
  if [ "$act" = restart ]; then
    r=$(rpc stopProcess "$n" '<param><value><boolean>1</boolean></value></param>')
    if f=$(fault "$r"); then
      case "$f" in NOT_RUNNING*) ;; *) echo "$n: ERROR ($f)"; rc=1; continue ;; esac
    elif [ -z "$r" ]; then echo "$n: ERROR (no answer from supervisord)"; rc=1; continue
    else echo "$n: stopped"; fi
  fi
  r=$(rpc startProcess "$n" '<param><value><boolean>0</boolean></value></param>')
  if f=$(fault "$r"); then
    case "$f" in ALREADY_STARTED*) echo "$n: ERROR (already started)" ;; *) echo "$n: ERROR ($f)"; rc=1 ;; esac
  elif [ -z "$r" ]; then echo "$n: ERROR (no answer from supervisord)"; rc=1
  else echo "$n: started"; fi
done
exit $rc`;

async function startNoWait(conn: Connector, action: 'start' | 'restart', name: string): Promise<void> {
  throwOnError(conn, `supervisorctl ${action} ${name}`, await conn.exec(['sh', '-c', START_SCRIPT, 'flanctl-supervisorctl', action, name]));
}

const stateText = (s: ProgramStatus) => (s.state === 'MISSING' ? 'new program' : s.state.toLowerCase());

export interface SupervisordInputs {
  id: string;
  /** Why flanneld must restart (touched dependencies, network config), if it must. */
  reason?: string;
  /** Touched steps the watcher depends on (its script). */
  watcherDeps: string[];
  /** The program file was (re)written earlier in this run. */
  definitionChanged: boolean;
  /** How long flanneld may take to be ready after a (re)start. */
  readyTimeoutMs: number;
}

/**
 * supervisord: the flanctl-iptables watcher RUNNING (past its startsecs), checked last on the node so
 * the service step need not wait for it; not a change of its own: a watcher that does not come up
 * fails the node with its state.
 */
export function watcherUpStep(): Step {
  const id = 'service:iptables-watcher';
  const F = SUPERVISORD_PROGRAMS.flanneld;
  const W = SUPERVISORD_PROGRAMS.iptables;
  return {
    id,
    title: `${W} running`,
    // The service step's read (both programs: one curl either way), so a facts batch holds it once.
    reads: () => [supervisorStatusArgv([F, W])],
    async check(ctx): Promise<Change | undefined> {
      const { conn } = onNode(ctx, id);
      const s = (await settledSupervisorStatus(conn, [W], 30_000, { read: [F, W] }))[W];
      if (isUp(s)) return undefined;
      // Not there or stopped: the service step's own change covers it when it ran (plan: it will start it).
      if ((s.state === 'MISSING' || s.state === 'STOPPED') && ctx.touched.has(SERVICE_ID)) return undefined;
      if (s.state === 'MISSING' || s.state === 'STOPPED') {
        return {
          action: 'update',
          summary: `start ${W} (${s.state.toLowerCase()})`,
          apply: async () => {
            await startNoWait(conn, 'start', W);
            const after = (await waitSupervisorSettled(conn, [W]))[W];
            if (!isUp(after)) throw new FlanctlError(`${conn.name}: ${W} is ${after.state} under supervisord after starting it`);
          },
        };
      }
      throw new FlanctlError(`${conn.name}: ${W} is ${s.state} under supervisord (it exits right after it starts: see its log)`);
    },
  };
}

export async function checkSupervisord(inv: Inventory, ctx: StepContext, p: SupervisordInputs): Promise<Change | undefined> {
  const { conn } = onNode(ctx, p.id);
  const F = SUPERVISORD_PROGRAMS.flanneld;
  const W = SUPERVISORD_PROGRAMS.iptables;
  const names: string[] = flanctlManagesIptables(inv) ? [F, W] : [F];
  // The watcher is read even when flanctl no longer manages rules: a program left from an earlier
  // inventory (masquerade was tightened) would keep re-applying the old rules.
  const before = await settledSupervisorStatus(conn, [F, W]);
  const removeWatcher = !names.includes(W) && before[W].state !== 'MISSING';
  const flanneldAction = !isUp(before[F]) ? 'start' : p.reason ? 'restart' : undefined;
  const watcherAction = names.includes(W) ? (!isUp(before[W]) ? 'start' : p.watcherDeps.length ? 'restart' : undefined) : undefined;
  if (!flanneldAction && !watcherAction && !removeWatcher) return undefined;
  const summary = [
    flanneldAction && `${flanneldAction} flanneld (${flanneldAction === 'start' ? stateText(before[F]) : p.reason})`,
    watcherAction && `${watcherAction} ${W}`,
    removeWatcher && `remove ${W} (flanctl no longer manages iptables rules)`,
  ].filter(Boolean);
  const isNew = names.every((n) => before[n].state === 'MISSING');
  const ready: ReadyOptions = { timeoutMs: p.readyTimeoutMs, kv: ctx.kv, node: ctx.node };
  return {
    // A restart stops a running program; starting a new or stopped one is a create or an update.
    action: flanneldAction === 'restart' || watcherAction === 'restart' ? 'restart' : isNew ? 'create' : 'update',
    summary: summary.join(', '),
    apply: async () => {
      // `update` (re)starts exactly the programs whose section is new or changed ("added" /
      // "updated process group"); those must not be restarted again (LAB-NOTES.md).
      const restarted = new Set<string>();
      let since = 'none';
      if (p.definitionChanged || names.some((n) => before[n].state === 'MISSING') || removeWatcher) {
        // Naming a group that is gone from the files stops and removes it ("removed process group").
        const u = await updateWithToken(inv, conn, [...names, ...(removeWatcher ? [W] : [])]);
        since = u.since;
        for (const n of names) if (new RegExp(`^${n}: (added|updated) process group`, 'm').test(u.out)) restarted.add(n);
      }
      // The watcher first, without waiting: its startsecs runs while flanneld starts.
      if (watcherAction && !restarted.has(W)) await startNoWait(conn, watcherAction === 'restart' && isUp(before[W]) ? 'restart' : 'start', W);
      // flanneld: one round trip that returns once it is ready, or throws saying what is missing.
      const ctl = restarted.has(F)
        ? () => waitFlanneldReady(inv, conn, since, ready)
        : flanneldAction === 'restart' && isUp(before[F])
          ? () => restartFlanneld(inv, conn, ready)
          : flanneldAction && (() => startFlanneld(inv, conn, ready));
      if (ctl) await ctl();
      const flanneldReady = !!ctl;
      // An honest last look at what the ctl script did not just confirm: a removed watcher gone, an
      // untouched flanneld or watcher still up. A watcher (re)started just now is judged by the
      // watcher step at the end of the node's steps (watcherUpStep): its startsecs runs meanwhile.
      const watcherStarted = !!watcherAction || restarted.has(W);
      const last = [...(flanneldReady ? [] : [F]), ...((names.includes(W) && !watcherStarted) || removeWatcher ? [W] : [])];
      if (!last.length) return;
      const final = await waitSupervisorSettled(conn, last);
      if (removeWatcher && final[W].state !== 'MISSING') throw new FlanctlError(`${conn.name}: ${W} is still ${final[W].state} under supervisord after \`supervisorctl update ${W}\``);
      const down = last.filter((n) => names.includes(n) && !isUp(final[n]));
      if (down.length) {
        const log = down.includes(F) ? await flanneldLogTail(inv, conn) : '';
        throw new FlanctlError(`${conn.name}: ${down.map((n) => `${n} is ${final[n].state}`).join(', ')} under supervisord${log ? `; last log lines:\n${log}` : ''}`);
      }
    },
  };
}
