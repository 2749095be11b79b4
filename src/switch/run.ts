/**
 * switch-backend as one call for the command: the backend the flags ask for, and the real
 * dependencies of switchBackend (SSH pool, etcd, service start/stop, verify, peer-state repair, the
 * inventory file) wired next to the code that uses them. Tests inject fakes into switchBackend itself.
 */
import { openPool } from '../connector/pool.js';
import { UsageError } from '../errors.js';
import { openKv } from '../kv/index.js';
import { acquireClusterLock, type ClusterLock } from '../kv/lock.js';
import { networkConfigText } from '../model/flannel-config.js';
import { backendSchema, type Backend, type Inventory } from '../model/inventory.js';
import { moduleSteps } from '../steps/modules.js';
import { PEER_SETTLE_MS, repairPeerState } from '../bootstrap/peer-repair.js';
import { restartFlanneld, startFlanneld, stopFlanneld } from '../steps/service.js';
import { sleep } from '../steps/util.js';
import { runVerify } from '../verify/verify.js';
import { askToProceed } from './confirm.js';
import { writeInventoryBackend } from './inventory-edit.js';
import { switchBackend, type SwitchReport } from './switch.js';

/**
 * How long after every lease is current a node may still be programming its peers before it counts
 * as stale and is restarted. Polled: a cluster that is consistent earlier goes on at once. flanneld's
 * etcd watch delivers within milliseconds; the lab stand-in polls etcd every second, hence 1.5 s.
 */

export interface BackendFlags {
  directRouting?: boolean;
  vni?: number;
  port?: number;
}

/** The target backend from the command line; flags that do not apply to the type are refused (exit 2). */
export function backendFromFlags(type: string, f: BackendFlags): Backend {
  const misuse = (flag: string) => new UsageError(`--${flag} does not apply to ${type}`);
  if (type === 'host-gw' && (f.directRouting || f.vni !== undefined || f.port !== undefined)) throw misuse(f.directRouting ? 'direct-routing' : f.vni !== undefined ? 'vni' : 'port');
  if (type !== 'vxlan' && f.vni !== undefined) throw misuse('vni');
  if (type === 'ipip' && f.port !== undefined) throw misuse('port');
  if (type === 'wireguard' && f.directRouting) throw misuse('direct-routing');
  const raw: Record<string, unknown> = { type };
  if (type === 'vxlan') Object.assign(raw, { vni: f.vni, port: f.port, directRouting: f.directRouting });
  if (type === 'ipip') raw.directRouting = f.directRouting;
  if (type === 'wireguard') raw.listenPort = f.port;
  return backendSchema.parse(Object.fromEntries(Object.entries(raw).filter(([, v]) => v !== undefined)));
}

export interface RunSwitchOptions {
  to: Backend;
  force: boolean;
  rollback: boolean;
  dryRun: boolean;
  /** Skip the confirmation prompt (the plan is still printed). */
  yes: boolean;
  concurrency: number;
  log(line: string): void;
  /** --wait-lock in ms (0: fail at once when another flanctl holds the cluster lock). */
  lockWaitMs?: number;
}

/** Open the pool and etcd, switch, close both. */
export async function runSwitchBackend(inv: Inventory, o: RunSwitchOptions): Promise<SwitchReport> {
  const kv = await openKv(inv);
  const pool = openPool(inv);
  const { log, concurrency } = o;
  let lock: ClusterLock | undefined;
  try {
    if (!o.dryRun) lock = await acquireClusterLock(kv, inv.etcd.prefix, 'switch-backend', { waitMs: o.lockWaitMs, log });
    return await switchBackend(
      inv,
      {
        to: o.to,
        force: o.force,
        rollback: o.rollback,
        dryRun: o.dryRun,
        confirm: async (lines) => {
          if (!o.yes) return askToProceed(lines, 'switch-backend', log);
          for (const l of lines) log(l);
          return true;
        },
      },
      {
        get: (n) => pool.get(n),
        kv,
        stopService: async (conn, i, _n, afterStop) => {
          const r = await stopFlanneld(i, conn, { afterStop });
          return { actions: r.actions, links: r.links, routes: r.routes };
        },
        startService: async (conn, i, node) => void (await startFlanneld(i, conn, { kv, node })),
        verify: async (i, { probe }) => {
          const v = await runVerify(i, pool, kv, { probe, concurrency });
          return {
            ok: v.ok,
            failedPairs: v.pairs.filter((p) => !p.ok).map((p) => `${p.from} → ${p.to}`),
            failedChecks: v.checks.filter((c) => !c.ok).map((c) => `${c.node}: ${c.name}: ${c.detail}`),
          };
        },
        repairPeerState: (i) => repairPeerState(i, {
          get: (n) => pool.get(n), kv, restart: async (conn, inv2, node) => void (await restartFlanneld(inv2, conn, { kv, node })),
          now: () => Date.now(), sleep, concurrency, settleMs: PEER_SETTLE_MS, roundTimeoutMs: 10_000, log,
        }),
        persistNode: async (conn, i, node) => {
          for (const step of moduleSteps(i).filter((s) => s.id === 'modules:file')) {
            const change = await step.check({ inventory: i, node, conn, kv, touched: new Set() });
            await change?.apply();
          }
        },
        log,
        now: () => Date.now(),
        sleep,
        concurrency,
        leaseTimeoutMs: 60_000,
        verifyAttempts: 3,
        verifyIntervalMs: 500,
        configText: (i) => networkConfigText(i),
        writeInventory: async (b) => (await writeInventoryBackend(inv.file, b)).changed,
      },
    );
  } finally {
    await lock?.release();
    await pool.closeAll();
    await kv.close();
  }
}
