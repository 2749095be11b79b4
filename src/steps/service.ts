/**
 * flanneld as a service: the definition file (systemd unit or supervisord program) and the running
 * state. The service restarts only when a file it depends on changed earlier in this run
 * (ctx.touched), when the network config in etcd changed, or when it is not running.
 *
 * A (re)start is finished only when flanneld is ready by its own account (the ctl script,
 * flanneld-ready.ts: subnet.env rewritten, up, /healthz), waited for on the node in one round trip:
 * no fixed waits, no status polls over SSH. supervisord's side is service-supervisord.ts.
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
import { fileStep, statArgv } from './file.js';
import { restartFlanneld, startFlanneld } from './flanneld-ready.js';
import { settledSystemdActive, supervisorStatusArgv } from './service-state.js';
import { checkSupervisord } from './service-supervisord.js';
import { onNode } from './util.js';
export { isUp, parseSupervisorStatus, settledSupervisorStatus, settledSystemdActive, supervisorStatusArgv, type ProgramStatus } from './service-state.js';
export { flanneldLogTail, restartFlanneld, startFlanneld, stopFlanneld, waitFlanneldReady, type ReadyOptions } from './flanneld-ready.js';
export { supervisorctl } from './service-supervisord.js';

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

// ---- systemd -----------------------------------------------------------------------------------

async function systemdState(conn: Connector): Promise<{ enabled: boolean; active: string }> {
  const en = await conn.exec(['systemctl', 'is-enabled', 'flanneld']);
  if (en.code === 127) throw new FlanctlError(`${conn.name}: systemctl not found`);
  return { enabled: en.stdout.trim() === 'enabled', active: await settledSystemdActive(conn) };
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

/** The argv of HEALTHZ_SCRIPT (no stdin: verify's facts batch may answer it). */
export const healthzArgv = (host: string, port: number) => ['sh', '-c', HEALTHZ_SCRIPT, 'flanctl-healthz', host, String(port)];

/** Ask flanneld's /healthz from the node itself; client 'none' when the node has neither curl nor wget. */
export async function probeHealthz(conn: Connector, host: string, port: number): Promise<{ client: string; rc?: string; status?: string; code: number }> {
  const r = await conn.exec(healthzArgv(host, port), { timeoutMs: 10_000 });
  const [client, rc, status] = r.stdout.trim().split(/\s+/);
  return { client, rc, status, code: r.code };
}

export interface ServiceStepOptions {
  /** Step ids whose change means flanneld must restart (certs, binary, definition). */
  dependsOn: string[];
  /** supervisord: step ids whose change restarts the flanctl-iptables program (the script). */
  watcherDependsOn?: string[];
  /** Restart even without touched files, e.g. "network config changed in etcd". */
  restartReason?: () => string | undefined;
  /** How long flanneld may take to be ready after a (re)start (default 60 s, like the lease wait). */
  readyTimeoutMs?: number;
}

export function serviceStep(inv: Inventory, opts: ServiceStepOptions): Step {
  const id = 'service:flanneld';
  const touchedDeps = (ctx: StepContext) => opts.dependsOn.filter((d) => ctx.touched.has(d));
  const readyMs = opts.readyTimeoutMs ?? 60_000;
  return {
    id,
    title: `flanneld service (${inv.flannel.service})`,
    reads: () =>
      inv.flannel.service === 'systemd'
        ? [['systemctl', 'is-enabled', 'flanneld'], ['systemctl', 'is-active', 'flanneld']]
        : [supervisorStatusArgv([SUPERVISORD_PROGRAMS.flanneld, ...(flanctlManagesIptables(inv) ? [SUPERVISORD_PROGRAMS.iptables] : [])])],
    check: (ctx) => {
      if (inv.flannel.service === 'systemd') return checkSystemd(ctx);
      const deps = touchedDeps(ctx);
      return checkSupervisord(inv, ctx, {
        id,
        reason: deps.length ? `changed: ${deps.join(', ')}` : opts.restartReason?.(),
        watcherDeps: (opts.watcherDependsOn ?? []).filter((d) => ctx.touched.has(d)),
        definitionChanged: ctx.touched.has(DEFINITION_ID),
        readyTimeoutMs: readyMs,
      });
    },
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
        // The ctl script (re)starts and waits on the node until flanneld is ready (Type=notify's
        // READY=1 = active, subnet.env rewritten, /healthz): one round trip.
        const ready = { timeoutMs: readyMs, kv: ctx.kv, node: ctx.node };
        if (doRestart) await (running ? restartFlanneld(inv, conn, ready) : startFlanneld(inv, conn, ready));
      },
    };
  }
}
