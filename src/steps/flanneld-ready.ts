/**
 * flanneld's stop / start / restart / wait with readiness from flanneld itself (the ctl script,
 * flanneld-ctl.ts), turned into errors that say what is missing, with flanneld's last log lines.
 * Shared by the bootstrap service step (service.ts, service-supervisord.ts), switch-backend and the
 * peer-state repair.
 */
import type { Connector } from '../connector/connector.js';
import { FlanctlError } from '../errors.js';
import type { Inventory, NodeSpec } from '../model/inventory.js';
import { remotePaths } from '../model/templates.js';
import type { Kv } from '../kv/kv.js';
import { listLeases } from '../kv/flannel-keys.js';
import { flanneldCtl, type CtlAction, type CtlResult } from './flanneld-ctl.js';

/** The last lines of flanneld's log on the node (supervisord log file or the journal). */
export async function flanneldLogTail(inv: Inventory, conn: Connector, lines = 15): Promise<string> {
  const argv =
    inv.flannel.service === 'systemd'
      ? ['journalctl', '-u', 'flanneld', '-n', String(lines), '--no-pager', '-o', 'cat']
      : ['tail', '-n', String(lines), '--', remotePaths(inv).logFile];
  const r = await conn.exec(argv).catch(() => undefined);
  return r && r.code === 0 ? r.stdout.trimEnd() : '';
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
