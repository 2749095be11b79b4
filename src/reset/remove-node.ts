/**
 * `flanctl node remove NAME [--unreachable]` (issue 16 item 3), in this order:
 *  1. on the node (skipped with --unreachable): what `reset` removes, for that node only;
 *  2. its lease is deleted from etcd, so the subnet returns to the pool;
 *  3. every remaining peer is checked for the route / neighbour / FDB entries of the node (flanneld
 *     drops them when it sees the lease go); whatever is still there after a short wait is removed;
 *     with iptables.openBackend, the peer's ACCEPT rules for the node's public IP go too (peer-firewall.ts);
 *  4. the node is removed from the inventory file (comments kept);
 *  5. verify of the remaining nodes.
 * A reachable node whose reset fails stops the removal before etcd or peers are touched.
 */
import { openPool } from '../connector/pool.js';
import { converge } from '../engine/engine.js';
import type { Report } from '../engine/report.js';
import { FlanctlError, UsageError, errorMessage } from '../errors.js';
import { listLeases } from '../kv/flannel-keys.js';
import { openKv } from '../kv/index.js';
import type { Kv } from '../kv/kv.js';
import { mapLimit } from '../engine/parallel.js';
import type { OutputMode } from '../engine/output.js';
import type { Inventory, NodeSpec } from '../model/inventory.js';
import { pollUntil } from '../steps/util.js';
import { runVerify, type VerifyReport } from '../verify/verify.js';
import { writeInventoryWithoutNode } from './inventory-remove.js';
import { observeLeftovers, removeLeftovers, type Gone } from './peer-cleanup.js';
import { dropRemovedNodeRules } from './peer-firewall.js';
import { resetNodeSteps } from './reset.js';
import { acquireClusterLock, type ClusterLock } from '../kv/lock.js';

export interface RemoveNodeOptions {
  file: string;
  unreachable?: boolean;
  output?: OutputMode;
  /** How long peers get to drop the node's entries themselves (default 10 s). */
  settleMs?: number;
  /** Tests: replace etcd. */
  openKv?: () => Promise<Kv>;
}

export interface PeerCleanup {
  node: string;
  /** Entries flanctl removed because flanneld had not. */
  removed: string[];
  error?: string;
}

export interface RemoveNodeReport {
  node: string;
  unreachable: boolean;
  reset?: Report;
  lease: { subnet?: string; deleted: boolean };
  peers: PeerCleanup[];
  inventory: { file: string; changed: boolean };
  verify?: VerifyReport;
  ok: boolean;
}

export function nodeToRemove(inv: Inventory, name: string): NodeSpec {
  const node = inv.nodes.find((n) => n.name === name);
  if (!node) throw new UsageError(`node ${name} is not in the inventory (nodes: ${inv.nodes.map((n) => n.name).join(', ')})`);
  if (inv.nodes.length === 1) throw new UsageError(`${name} is the only node; use \`flanctl reset\` to remove flannel from the cluster`);
  return node;
}

export async function removeNode(inv: Inventory, name: string, opts: RemoveNodeOptions): Promise<RemoveNodeReport> {
  const node = nodeToRemove(inv, name);
  const rest: Inventory = { ...inv, nodes: inv.nodes.filter((n) => n.name !== name) };
  const pool = openPool(inv);
  let kv: Kv | undefined;
  let lock: ClusterLock | undefined;
  try {
    const report: RemoveNodeReport = { node: name, unreachable: !!opts.unreachable, lease: { deleted: false }, peers: [], inventory: { file: opts.file, changed: false }, ok: false };
    kv = await (opts.openKv ?? (() => openKv(inv)))();
    // Like bootstrap, reset and switch-backend: no other flanctl may change the cluster meanwhile.
    lock = await acquireClusterLock(kv, inv.etcd.prefix, 'node remove');
    const lease = (await listLeases(kv, inv.etcd.prefix)).find((l) => l.publicIp === node.publicIp);
    report.lease.subnet = lease?.subnet;

    if (!opts.unreachable) {
      const target = { name, steps: resetNodeSteps(inv), open: async () => ({ inventory: inv, node, conn: await pool.get(name) }) };
      report.reset = await converge([target], { command: 'node remove', mode: 'apply', output: opts.output ?? 'auto', summary: false });
      const t = report.reset.targets[0];
      if (!t.ok) {
        throw new FlanctlError(`${name}: could not remove flannel from the node; nothing else was changed:\n    ${t.error}`, {
          hint: `If the node is dead, run \`flanctl node remove ${name} --unreachable\` to free its lease and clean the peers.`,
        });
      }
    }
    if (lease) report.lease.deleted = await kv.delete(lease.key);

    const gone: Gone = { name, publicIp: node.publicIp, subnet: lease?.subnet, vtepMac: lease?.backendData?.VtepMAC, network: inv.network.cidr };
    const settleMs = opts.settleMs ?? 10_000;
    const results = await mapLimit(rest.nodes, inv.ssh.concurrency, async (peer): Promise<PeerCleanup> => {
      const conn = await pool.get(peer.name);
      let left = await observeLeftovers(conn, gone);
      if (left.length && settleMs > 0) await pollUntil(async () => ((left = await observeLeftovers(conn, gone)).length ? undefined : true), settleMs);
      const failed = await removeLeftovers(conn, left);
      const still = failed.length ? failed : (await observeLeftovers(conn, gone)).map((l) => `${l.kind} ${l.text}`);
      const firewall = await dropRemovedNodeRules(conn, inv, rest); // iptables.openBackend: its ACCEPT rules
      return { node: peer.name, removed: [...left.map((l) => `${l.kind} ${l.text}`), ...firewall], ...(still.length ? { error: `still present: ${still.join('; ')}` } : {}) };
    });
    report.peers = results.map((r, i) => (r.ok ? r.value : { node: rest.nodes[i].name, removed: [], error: errorMessage(r.error) }));

    report.inventory.changed = (await writeInventoryWithoutNode(opts.file, name)).changed;
    report.verify = await runVerify(rest, pool, kv, { probe: inv.network.backend.type === 'host-gw' });
    report.ok = report.verify.ok && report.peers.every((p) => !p.error);
    return report;
  } finally {
    await lock?.release();
    await pool.closeAll();
    await kv?.close().catch(() => {});
  }
}

export function renderRemoval(r: RemoveNodeReport): string[] {
  const lines = [
    r.unreachable ? `${r.node}: unreachable, nothing removed on the node` : `${r.node}: flannel removed (${r.reset?.summary.changed ?? 0} change(s))`,
    r.lease.subnet ? `lease ${r.lease.subnet}: ${r.lease.deleted ? 'deleted, the subnet is free again' : 'already gone'}` : 'lease: none in etcd',
    ...r.peers.map((p) => `${p.node}: ${p.error ? `FAILED ${p.error}` : p.removed.length ? `removed ${p.removed.length} leftover entr${p.removed.length === 1 ? 'y' : 'ies'}: ${p.removed.join('; ')}` : 'no entries left for the node'}`),
    `${r.inventory.file}: ${r.inventory.changed ? `${r.node} removed` : `${r.node} was not in the file`}`,
  ];
  return lines;
}
