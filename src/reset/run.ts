/**
 * `flanctl reset` as one call for the command: the targets (every node, then etcd unless
 * --keep-etcd), the plan and its confirmation, the cluster lock around the apply, and the partial
 * report when SIGINT/SIGTERM stopped it.
 */
import { openPool } from '../connector/pool.js';
import { convergePhases, type Target } from '../engine/engine.js';
import { CLUSTER_TARGET, type OutputMode } from '../engine/output.js';
import type { Report } from '../engine/report.js';
import { openKv } from '../kv/index.js';
import type { Kv } from '../kv/kv.js';
import { acquireClusterLock, type ClusterLock } from '../kv/lock.js';
import type { Inventory, NodeSpec } from '../model/inventory.js';
import { resetEtcdStep, resetNodeSteps } from './reset.js';

export interface ResetOptions {
  /** The nodes to reset (--limit selects some; default every node). */
  nodes?: NodeSpec[];
  /** --limit was given: only the selected nodes' leases go, the config stays. */
  onlySomeNodes?: boolean;
  keepEtcd: boolean;
  dryRun: boolean;
  concurrency: number;
  output: OutputMode;
  lockWaitMs: number;
  /** Asked with the number of changes when a plan was made first; resolves false to stop. */
  confirm?: (changes: number) => Promise<boolean>;
  note: (line: string) => void;
}

export interface ResetResult {
  report: Report;
  /** 'planned' (dry run or nothing to do), 'declined', or 'applied'. */
  outcome: 'planned' | 'declined' | 'applied';
}

export async function runReset(inv: Inventory, o: ResetOptions): Promise<ResetResult> {
  const pool = openPool(inv);
  let kv: Kv | undefined;
  let lock: ClusterLock | undefined;
  const getKv = async () => (kv ??= await openKv(inv));
  const targets = (): Target[][] => {
    const nodes: Target[] = (o.nodes ?? inv.nodes).map((node) => ({
      name: node.name,
      steps: resetNodeSteps(inv),
      open: async () => ({ inventory: inv, node, conn: await pool.get(node.name) }),
    }));
    if (o.keepEtcd) return [nodes];
    return [nodes, [{ name: CLUSTER_TARGET, steps: [resetEtcdStep(inv, o.onlySomeNodes ? o.nodes : undefined)], open: async () => ({ inventory: inv, kv: await getKv() }) }]];
  };
  try {
    if (o.dryRun || o.confirm) {
      const plan = await convergePhases(targets(), { command: 'reset', mode: 'check', concurrency: o.concurrency, output: o.output });
      if (o.dryRun || plan.summary.failed > 0 || plan.summary.changed === 0) return { report: plan, outcome: 'planned' };
      if (o.confirm && !(await o.confirm(plan.summary.changed))) return { report: plan, outcome: 'declined' };
    }
    lock = await acquireClusterLock(await getKv(), inv.etcd.prefix, 'reset', { waitMs: o.lockWaitMs, log: o.note });
    const report = await convergePhases(targets(), { command: 'reset', mode: 'apply', concurrency: o.concurrency, output: o.output });
    return { report, outcome: 'applied' };
  } finally {
    await lock?.release();
    await pool.closeAll();
    await kv?.close();
  }
}
