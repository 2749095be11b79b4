/**
 * flanneld as a service: the definition file (systemd unit or supervisord program) and the running
 * state. The service restarts only when a file it depends on changed earlier in this run
 * (ctx.touched), when the network config in etcd changed, or when it is not running.
 *
 * supervisord (LAB-NOTES.md): `update` restarts a program only when its own section changed, and
 * `start` on a running program exits 0 — so the state is always read from `supervisorctl status`,
 * and a program that `update` just (re)started is never restarted again (its pid changed).
 */
import type { Connector } from '../connector/connector.js';
import { run } from '../connector/connector.js';
import { FlanctlError } from '../errors.js';
import type { Inventory, NodeSpec } from '../model/inventory.js';
import type { Change, Step, StepContext } from '../engine/step.js';
import {
  SUPERVISORD_CONF_CANDIDATES,
  SUPERVISORD_PROGRAMS,
  flanctlManagesIptables,
  iniProblems,
  remotePaths,
  renderSupervisordConf,
  renderSystemdUnit,
} from '../model/templates.js';
import { CrashWatch } from './crash-watch.js';
import { flanneldCtl, type CtlAction, type CtlResult } from './flanneld-ctl.js';
import type { Kv } from '../kv/kv.js';
import { listLeases } from '../kv/flannel-keys.js';
import { fileStep, statArgv } from './file.js';
import { isUp, notDown, settledSupervisorStatus, settledSystemdActive, supervisorStatus, supervisorStatusArgv, type ProgramStatus } from './service-state.js';
import { onNode, pollUntil } from './util.js';
export { isUp, parseSupervisorStatus, settledSupervisorStatus, settledSystemdActive, supervisorStatusArgv, type ProgramStatus } from './service-state.js';

export const DEFINITION_ID = 'service:definition';

/** Where supervisord includes program files on this node (Debian conf.d, else RHEL supervisord.d). */
export async function supervisordConfPath(conn: Connector): Promise<string> {
  for (const c of SUPERVISORD_CONF_CANDIDATES) if ((await conn.exec(['test', '-d', c.dir])).code === 0) return c.path;
  return SUPERVISORD_CONF_CANDIDATES[0].path;
}

export function serviceDefinitionStep(inv: Inventory, node: NodeSpec, opts: { hasMkDockerOpts: boolean }): Step {
  if (inv.flannel.service === 'systemd') {
    return fileStep({
      id: DEFINITION_ID,
      title: 'systemd unit',
      path: remotePaths(inv).systemdUnit,
      content: renderSystemdUnit(inv, node, opts),
      mode: 0o644,
      validate: iniProblems,
    });
  }
  return fileStep({
    id: DEFINITION_ID,
    title: 'supervisord program',
    path: (ctx) => supervisordConfPath(onNode(ctx, DEFINITION_ID).conn),
    reads: () => SUPERVISORD_CONF_CANDIDATES.flatMap((c) => [['test', '-d', c.dir], statArgv(c.path)]),
    content: (path) => renderSupervisordConf(inv, node, path),
    mode: 0o644,
    validate: iniProblems,
  });
}

// ---- supervisord -------------------------------------------------------------------------------

const stateText = (s: ProgramStatus) => (s.state === 'MISSING' ? 'new program' : s.state.toLowerCase());

export async function supervisorctl(conn: Connector, args: string[]): Promise<string> {
  const r = await conn.exec(['supervisorctl', ...args]);
  const text = `${r.stdout}${r.stderr}`;
  const benign = text.replace(/ERROR \((already started|not running)\)/g, '');
  if (/ERROR/.test(benign) || (r.code !== 0 && benign === text)) {
    throw new FlanctlError(`${conn.name}: supervisorctl ${args.join(' ')}: ${text.trim() || `exit ${r.code}`}`);
  }
  return text;
}

// ---- systemd -----------------------------------------------------------------------------------

async function systemdState(conn: Connector): Promise<{ enabled: boolean; active: string }> {
  const en = await conn.exec(['systemctl', 'is-enabled', 'flanneld']);
  if (en.code === 127) throw new FlanctlError(`${conn.name}: systemctl not found`);
  return { enabled: en.stdout.trim() === 'enabled', active: await settledSystemdActive(conn) };
}

/** The last lines of flanneld's log on the node (supervisord log file or the journal). */
export async function flanneldLogTail(inv: Inventory, conn: Connector, lines = 15): Promise<string> {
  const argv =
    inv.flannel.service === 'systemd'
      ? ['journalctl', '-u', 'flanneld', '-n', String(lines), '--no-pager', '-o', 'cat']
      : ['tail', '-n', String(lines), '--', remotePaths(inv).logFile];
  const r = await conn.exec(argv).catch(() => undefined);
  return r && r.code === 0 ? r.stdout.trimEnd() : '';
}

/** $1 = host, $2 = port. Prints "<client> <exit> <http status>" or "none" when no client exists. */
export const HEALTHZ_SCRIPT = `url="http://$1:$2/healthz"
if command -v curl >/dev/null 2>&1; then
  code=$(curl -s -m 3 -o /dev/null -w '%{http_code}' "$url"); echo "curl $? $code"
elif command -v wget >/dev/null 2>&1; then
  if wget -q -T 3 -O /dev/null "$url"; then echo "wget 0 200"; else echo "wget $? -"; fi
else
  echo none
fi
`;

/** Ask flanneld's /healthz from the node itself; client 'none' when the node has neither curl nor wget. */
export async function probeHealthz(conn: Connector, host: string, port: number): Promise<{ client: string; rc?: string; status?: string; code: number }> {
  const r = await conn.exec(['sh', '-s', '--', host, String(port)], { stdin: HEALTHZ_SCRIPT, timeoutMs: 10_000 });
  const [client, rc, status] = r.stdout.trim().split(/\s+/);
  return { client, rc, status, code: r.code };
}

/**
 * A (re)start is finished only when flanneld serves again: supervisord RUNNING (after startsecs) or
 * systemd active, and /healthz answering when a port is set. Otherwise what runs next (verify) would
 * race the restart. Throws with flanneld's last log lines.
 */
export async function waitUntilServing(inv: Inventory, conn: Connector, timeoutMs = 60_000): Promise<void> {
  const F = SUPERVISORD_PROGRAMS.flanneld;
  const deadline = Date.now() + timeoutMs;
  const crash = new CrashWatch(inv, conn, () => flanneldLogTail(inv, conn));
  let crashed: string | undefined;
  const state = await pollUntil(async () => {
    crashed = await crash.check();
    if (crashed) return 'crash';
    if (inv.flannel.service === 'systemd') {
      const active = (await conn.exec(['systemctl', 'is-active', 'flanneld'])).stdout.trim();
      return active === 'active' || active === 'failed' ? active : undefined;
    }
    const s = (await supervisorStatus(conn, [F]))[F].state; // STARTING and BACKOFF are on their way
    return ['RUNNING', 'FATAL', 'EXITED', 'STOPPED', 'MISSING'].includes(s) ? s : undefined;
  }, timeoutMs);
  let problem = state === 'RUNNING' || state === 'active' ? undefined : crashed ?? `flanneld is ${state ?? 'still starting'} after ${timeoutMs / 1000} s`;
  const port = inv.flannel.healthzPort;
  if (!problem && port > 0) {
    const healthy = await pollUntil(async () => {
      const h = await probeHealthz(conn, '127.0.0.1', port);
      return h.client === 'none' || (h.rc === '0' && h.status === '200') ? h : undefined;
    }, Math.max(1000, deadline - Date.now()));
    if (!healthy) problem = `flanneld runs but http://127.0.0.1:${port}/healthz does not answer`;
  }
  if (problem) {
    const log = await flanneldLogTail(inv, conn);
    throw new FlanctlError(`${conn.name}: ${problem}${log ? `; last log lines:\n${log}` : ''}`);
  }
}

export interface ReadyOptions {
  /** How long flanneld may take to stop, or to be ready after a (re)start (default 20 s). */
  timeoutMs?: number;
  /** With kv and node, a timeout also says whether etcd holds the node's lease. */
  kv?: Kv;
  node?: NodeSpec;
}

const DEFAULT_READY_MS = 20_000;

async function leaseNote(inv: Inventory, opts: ReadyOptions): Promise<string> {
  if (!opts.kv || !opts.node) return '';
  const ip = opts.node.publicIp;
  const lease = await listLeases(opts.kv, inv.etcd.prefix).then((ls) => ls.find((l) => l.publicIp === ip), () => undefined);
  return lease ? `; etcd holds lease ${lease.subnet} for ${ip}` : `; etcd holds no lease with PublicIP ${ip} under ${inv.etcd.prefix}/subnets`;
}

/** The ctl script, turned into an error (with flanneld's last log lines) unless it ended ready / stopped. */
async function ctlOrThrow(inv: Inventory, conn: Connector, action: CtlAction, opts: ReadyOptions & { since?: string; afterStop?: string[][] }): Promise<CtlResult> {
  const timeoutMs = opts.timeoutMs ?? DEFAULT_READY_MS;
  const r = await flanneldCtl(inv, conn, action, { timeoutMs, since: opts.since, afterStop: opts.afterStop });
  if (r.result === 'ready' || r.result === 'stopped') return r;
  const secs = Math.round(timeoutMs / 1000);
  const what = r.result === 'timeout'
    ? `flanneld ${action === 'stop' ? 'did not stop' : 'not ready'} after ${secs} s: ${r.why}${action === 'stop' ? '' : await leaseNote(inv, opts)}`
    : r.why || `flanneld ${action} failed (${r.result})`;
  const log = await flanneldLogTail(inv, conn);
  throw new FlanctlError(`${conn.name}: ${what}${log ? `; last log lines:\n${log}` : ''}`, {
    hint: r.result === 'timeout' && action !== 'stop' ? 'Check that the node reaches etcd (etcd.endpoints, the certificates in flannel.configDir) and flannel.iface.' : undefined,
  });
}

/**
 * Stop flanneld now and wait until it is down (switch-backend, reset); `afterStop` commands run in
 * the same round trip once it is down. Its exit status is meaningless (FLANNEL.md §9).
 */
export async function stopFlanneld(inv: Inventory, conn: Connector, opts: ReadyOptions & { afterStop?: string[][] } = {}): Promise<CtlResult> {
  return ctlOrThrow(inv, conn, 'stop', opts);
}

/** Start flanneld and wait until it is ready (subnet.env rewritten, up, /healthz); throws saying what is missing. */
export async function startFlanneld(inv: Inventory, conn: Connector, opts: ReadyOptions = {}): Promise<CtlResult> {
  return ctlOrThrow(inv, conn, 'start', opts);
}

/** Restart flanneld now (peer-state repair, switch-backend) and wait until it is ready again. */
export async function restartFlanneld(inv: Inventory, conn: Connector, opts: ReadyOptions = {}): Promise<CtlResult> {
  return ctlOrThrow(inv, conn, 'restart', opts);
}

/** Wait until flanneld, (re)started by someone else after `since` was read (subnetEnvToken), is ready. */
export async function waitFlanneldReady(inv: Inventory, conn: Connector, since: string, opts: ReadyOptions = {}): Promise<CtlResult> {
  return ctlOrThrow(inv, conn, 'wait', { ...opts, since });
}

export interface ServiceStepOptions {
  /** Step ids whose change means flanneld must restart (certs, binary, definition). */
  dependsOn: string[];
  /** supervisord: step ids whose change restarts the flanctl-iptables program (the script). */
  watcherDependsOn?: string[];
  /** Restart even without touched files, e.g. "network config changed in etcd". */
  restartReason?: () => string | undefined;
}

export function serviceStep(inv: Inventory, opts: ServiceStepOptions): Step {
  const id = 'service:flanneld';
  const touchedDeps = (ctx: StepContext) => opts.dependsOn.filter((d) => ctx.touched.has(d));
  return {
    id,
    title: `flanneld service (${inv.flannel.service})`,
    reads: () =>
      inv.flannel.service === 'systemd'
        ? [['systemctl', 'is-enabled', 'flanneld'], ['systemctl', 'is-active', 'flanneld']]
        : [supervisorStatusArgv([SUPERVISORD_PROGRAMS.flanneld, ...(flanctlManagesIptables(inv) ? [SUPERVISORD_PROGRAMS.iptables] : [])])],
    check: (ctx) => (inv.flannel.service === 'systemd' ? checkSystemd(ctx) : checkSupervisord(ctx)),
  };

  async function checkSystemd(ctx: StepContext): Promise<Change | undefined> {
    const { conn } = onNode(ctx, id);
    const st = await systemdState(conn);
    const running = st.active === 'active';
    const deps = touchedDeps(ctx);
    const reasons = deps.length ? `changed: ${deps.join(', ')}` : opts.restartReason?.();
    if (running && st.enabled && !reasons) return undefined;
    const doRestart = !running || !!reasons;
    const what = [!st.enabled && 'enable', doRestart && (running ? 'restart' : 'start')].filter(Boolean).join(' + ');
    return {
      // Only stopping a running flanneld counts as a restart; starting a stopped one is an update.
      action: doRestart && running ? 'restart' : 'update',
      summary: `${what} flanneld (${running ? reasons ?? 'not enabled' : st.active})`,
      apply: async () => {
        if (ctx.touched.has(DEFINITION_ID)) await run(conn, ['systemctl', 'daemon-reload']);
        if (!st.enabled) await run(conn, ['systemctl', 'enable', 'flanneld']);
        if (doRestart) {
          await run(conn, ['systemctl', '--no-block', running ? 'restart' : 'start', 'flanneld']);
          await waitUntilServing(inv, conn);
        }
      },
    };
  }

  async function checkSupervisord(ctx: StepContext): Promise<Change | undefined> {
    const { conn } = onNode(ctx, id);
    const F = SUPERVISORD_PROGRAMS.flanneld;
    const W = SUPERVISORD_PROGRAMS.iptables;
    const names = flanctlManagesIptables(inv) ? [F, W] : [F];
    // The watcher is read even when flanctl no longer manages rules: a program left from an earlier
    // inventory (masquerade was tightened) would keep re-applying the old rules.
    const before = await settledSupervisorStatus(conn, [F, W]);
    const removeWatcher = !names.includes(W) && before[W].state !== 'MISSING';
    const deps = touchedDeps(ctx);
    const reason = deps.length ? `changed: ${deps.join(', ')}` : opts.restartReason?.();
    const flanneldAction = !isUp(before[F]) ? 'start' : reason ? 'restart' : undefined;
    const watcherDeps = (opts.watcherDependsOn ?? []).filter((d) => ctx.touched.has(d));
    const watcherAction = names.includes(W) ? (!isUp(before[W]) ? 'start' : watcherDeps.length ? 'restart' : undefined) : undefined;
    if (!flanneldAction && !watcherAction && !removeWatcher) return undefined;
    const summary = [
      flanneldAction && `${flanneldAction} flanneld (${flanneldAction === 'start' ? stateText(before[F]) : reason})`,
      watcherAction && `${watcherAction} ${W}`,
      removeWatcher && `remove ${W} (flanctl no longer manages iptables rules)`,
    ].filter(Boolean);
    const isNew = names.every((n) => before[n].state === 'MISSING');
    return {
      // A restart stops a running program; starting a new or stopped one is a create or an update.
      action: flanneldAction === 'restart' || watcherAction === 'restart' ? 'restart' : isNew ? 'create' : 'update',
      summary: summary.join(', '),
      apply: async () => {
        // `update` (re)starts exactly the programs whose section is new or changed ("added" /
        // "updated process group"); those must not be restarted again (LAB-NOTES.md).
        const restarted = new Set<string>();
        if (ctx.touched.has(DEFINITION_ID) || names.some((n) => before[n].state === 'MISSING') || removeWatcher) {
          // Naming a group that is gone from the files stops and removes it ("removed process group").
          const out = await supervisorctl(conn, ['update', ...names, ...(removeWatcher ? [W] : [])]);
          for (const n of names) if (new RegExp(`^${n}: (added|updated) process group`, 'm').test(out)) restarted.add(n);
        }
        const ensure = async (name: string, action: string | undefined) => {
          if (!action || restarted.has(name)) return;
          await supervisorctl(conn, [action === 'restart' && isUp(before[name]) ? 'restart' : 'start', name]);
        };
        await ensure(F, flanneldAction);
        await ensure(W, watcherAction);
        if (flanneldAction) await waitUntilServing(inv, conn);
        const final = await settledSupervisorStatus(conn, removeWatcher ? [...names, W] : names);
        if (removeWatcher && final[W].state !== 'MISSING') throw new FlanctlError(`${conn.name}: ${W} is still ${final[W].state} under supervisord after \`supervisorctl update ${W}\``);
        const down = names.filter((n) => !isUp(final[n]));
        if (down.length) {
          const log = down.includes(F) ? await flanneldLogTail(inv, conn) : '';
          throw new FlanctlError(`${conn.name}: ${down.map((n) => `${n} is ${final[n].state}`).join(', ')} under supervisord${log ? `; last log lines:\n${log}` : ''}`);
        }
      },
    };
  }
}
