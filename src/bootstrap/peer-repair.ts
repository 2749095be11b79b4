/**
 * Repair stale peer state (issue 13 item 3), the one mechanism behind bootstrap, switch-backend and
 * its rollback. After flanctl (re)started flanneld on several nodes, flanneld v0.20.2 can have missed
 * a peer or a peer's new VtepMAC (FLANNEL.md §9); restarting flanneld on such a node makes it re-list
 * every lease and program them afresh.
 *
 * observe: leases from etcd once, then on every node at once verify's facts (links, routes,
 * neighbour and FDB entries: verify/facts.ts) compared with the leases (verify/peer-state.ts).
 * repair: wait until every node's own lease is current (present, the configured backend, and for
 * vxlan its VtepMAC equal to the node's flannel.<VNI> MAC); then restart flanneld on every stale
 * node **together**. That is safe: a restart reuses the existing flannel.<VNI> (so its MAC) and
 * the subnet (subnet.env + its lease), so it rewrites nobody's lease with anything new and no
 * running peer has an event to miss. The code checks this, not assumes it: each batch's leases are
 * compared before and after its restart. A round that leaves a node stale (or changed a lease)
 * makes the next round restart the remaining stale nodes in batches of half the size. Bounded rounds.
 */
import type { Connector } from '../connector/connector.js';
import { errorMessage } from '../errors.js';
import type { Inventory, NodeSpec } from '../model/inventory.js';
import type { Kv } from '../kv/kv.js';
import type { Lease } from '../model/leases.js';
import { listLeases } from '../kv/flannel-keys.js';
import { mapLimit } from '../engine/parallel.js';
import { gatherFacts } from '../verify/facts.js';
import { peerStateOf, stalePeers, type PeerMismatch } from '../verify/peer-state.js';

export interface PeerRepairDeps {
  get(node: string): Promise<Connector>;
  kv: Kv;
  restart(conn: Connector, inv: Inventory, node: NodeSpec): Promise<void>;
  now(): number;
  sleep(ms: number): Promise<void>;
  concurrency: number;
  /** How long a just-(re)started cluster may take to program its peers before a node counts as stale. */
  settleMs: number;
  /** After a round of restarts: how long the restarted nodes may take to program their peers. */
  roundTimeoutMs: number;
  /** Rounds of restarts at most (default 4). */
  maxRounds?: number;
  /** Which nodes to look at (default: every inventory node). */
  nodes?: NodeSpec[];
  log?(line: string): void;
}

export interface PeerSnapshot {
  leases: Lease[];
  /** Node → its mismatches; only nodes that have some. */
  stale: Map<string, PeerMismatch[]>;
  /** Nodes whose own lease is not current ("node2: no lease", "node3: VtepMAC … ≠ flannel.1 …"). */
  notCurrent: string[];
  /** Nodes whose facts could not be read. */
  unreadable: string[];
  /** Names of the nodes with anything above (a later look with the same leases reads only these). */
  dirty?: Set<string>;
}

export interface PeerRepairRound {
  batchSize: number;
  restarted: string[];
  /** Restarts that failed, "node: why". */
  failed: string[];
  /** Nodes whose lease a restart changed (never expected; forces smaller batches). */
  leaseChanged: string[];
  /** Node → peers still stale after the round. */
  stale: Record<string, string[]>;
  durationMs: number;
}

export interface PeerRepairReport {
  /** Node → peers it held stale or missing state for, before the repair. */
  found: Record<string, string[]>;
  /** Every mismatch found before the repair (node, peer, item, kernel, lease). */
  mismatches: PeerMismatch[];
  rounds: PeerRepairRound[];
  /** Nodes whose flanneld was restarted, in order. */
  restarted: string[];
  /** Node → peers still stale at the end. */
  remaining: Record<string, string[]>;
  ok: boolean;
  /** Why nothing was restarted, or why it did not converge. */
  problem?: string;
  durationMs: number;
}

/**
 * How long a just-(re)started cluster gets to program its peers before a node counts as stale (longer
 * while the mismatches keep shrinking: observeSettled). flanneld programs a peer as its watch delivers
 * the lease, within milliseconds; what misses it (v0.20.2's watch bug) never catches up on its own.
 */
export const PEER_SETTLE_MS = 500;

const leaseIdentity = (l: Lease | undefined) => (l ? JSON.stringify([l.subnet, l.publicIp, l.backendType ?? null, l.backendData ?? null]) : 'none');
const byNode = (m: Map<string, PeerMismatch[]>) => Object.fromEntries([...m].map(([k, v]) => [k, stalePeers(v)]));

/** Whether node's own lease is current; a reason when not. */
function leaseProblem(inv: Inventory, node: NodeSpec, leases: Lease[], flannelMac: string | undefined): string | undefined {
  const mine = leases.filter((l) => l.publicIp === node.publicIp);
  const type = inv.network.backend.type;
  if (!mine.length) return `${node.name}: no lease`;
  const l = mine[0];
  if ((l.backendType ?? 'udp') !== type) return `${node.name}: lease BackendType ${l.backendType ?? '(none)'}`;
  const mac = l.backendData?.VtepMAC?.toLowerCase();
  if (type === 'vxlan' && mac && flannelMac && mac !== flannelMac.toLowerCase()) return `${node.name}: lease VtepMAC ${mac}, its flannel device has ${flannelMac}`;
  return undefined;
}

const sameLeases = (a: Lease[], b: Lease[]) => {
  const ids = (ls: Lease[]) => ls.map((l) => leaseIdentity(l)).sort().join('\n');
  return ids(a) === ids(b);
};

/**
 * One look at every node (or, given the previous look and the same leases in etcd, only at the nodes
 * that were not clean then: a node's peer state changes only when a lease does, so a clean node stays
 * clean; at 20 nodes each look costs every node a facts batch).
 */
export async function observePeerState(inv: Inventory, deps: PeerRepairDeps, previous?: PeerSnapshot): Promise<PeerSnapshot> {
  const all = deps.nodes ?? inv.nodes;
  const backend = inv.network.backend;
  const dev = backend.type === 'vxlan' ? `flannel.${backend.vni}` : undefined;
  const leases = await listLeases(deps.kv, inv.etcd.prefix);
  const nodes = previous?.dirty && sameLeases(previous.leases, leases) ? all.filter((n) => previous.dirty!.has(n.name)) : all;
  const facts = await mapLimit(nodes, deps.concurrency, async (n) => gatherFacts(await deps.get(n.name), inv.flannel.subnetFile, dev));
  const snap: PeerSnapshot = { leases, stale: new Map(), notCurrent: [], unreadable: [], dirty: new Set() };
  nodes.forEach((n, i) => {
    const r = facts[i];
    if (!r.ok || r.value.errors.routes || r.value.errors.vxlan) {
      snap.unreadable.push(`${n.name}: ${r.ok ? r.value.errors.routes ?? r.value.errors.vxlan : errorMessage(r.error)}`);
      snap.dirty!.add(n.name);
      return;
    }
    const why = leaseProblem(inv, n, leases, dev ? r.value.links.find((l) => l.name === dev)?.mac : undefined);
    if (why) snap.notCurrent.push(why);
    const ms = peerStateOf(inv, n, r.value, leases);
    if (ms.length) snap.stale.set(n.name, ms);
    if (why || ms.length) snap.dirty!.add(n.name);
  });
  return snap;
}

/**
 * Observe until nothing is stale and every lease is current, or `ms` passed; the last snapshot.
 * A cluster still making progress (fewer mismatches than the last look: a busy node still adding its
 * peers) gets another second each time, up to 3 × ms: only state that stopped changing counts as stale.
 */
export async function observeSettled(inv: Inventory, deps: PeerRepairDeps, ms: number): Promise<PeerSnapshot> {
  const t0 = deps.now();
  let deadline = t0 + ms;
  let last = Infinity;
  let previous: PeerSnapshot | undefined;
  for (;;) {
    const snap = (previous = await observePeerState(inv, deps, previous));
    const settled = !snap.stale.size && !snap.notCurrent.length && !snap.unreadable.length;
    const open = [...snap.stale.values()].reduce((n, m) => n + m.length, 0) + snap.notCurrent.length;
    if (open < last && last !== Infinity) deadline = Math.min(Math.max(deadline, deps.now() + 1000), t0 + 3 * ms);
    last = open;
    if (settled || deps.now() >= deadline) return snap;
    await deps.sleep(250);
  }
}

/** Restart one batch together; which restarts failed and which leases they changed. */
async function restartBatch(inv: Inventory, deps: PeerRepairDeps, batch: NodeSpec[]) {
  const own = (ls: Lease[], n: NodeSpec) => leaseIdentity(ls.find((l) => l.publicIp === n.publicIp));
  const before = await listLeases(deps.kv, inv.etcd.prefix);
  const results = await mapLimit(batch, Math.max(deps.concurrency, 1), async (n) => deps.restart(await deps.get(n.name), inv, n));
  const after = await listLeases(deps.kv, inv.etcd.prefix);
  return {
    failed: results.flatMap((r, i) => (r.ok ? [] : [`${batch[i].name}: ${errorMessage(r.error).split('\n')[0]}`])),
    leaseChanged: batch.filter((n) => own(before, n) !== own(after, n)).map((n) => n.name),
  };
}

/**
 * Find and repair stale peer state; `first`: a snapshot already taken (bootstrap's plan step).
 * Never throws for stale state: the report says what remains (ok false).
 */
export async function repairPeerState(inv: Inventory, deps: PeerRepairDeps, first?: PeerSnapshot): Promise<PeerRepairReport> {
  const t0 = deps.now();
  const nodes = deps.nodes ?? inv.nodes;
  let snap = first ?? (await observeSettled(inv, deps, deps.settleMs));
  const found = byNode(snap.stale);
  const mismatches = [...snap.stale.values()].flat();
  const report: PeerRepairReport = { found, mismatches, rounds: [], restarted: [], remaining: found, ok: !snap.stale.size, durationMs: 0 };
  const done = () => ({ ...report, durationMs: deps.now() - t0 });
  if (!snap.stale.size) return done();

  // Restarting while a peer's lease is still being rewritten could leave the restarted node stale again.
  if (snap.notCurrent.length) snap = await observeSettled(inv, deps, Math.max(deps.settleMs, deps.roundTimeoutMs));
  if (snap.notCurrent.length) {
    report.remaining = byNode(snap.stale);
    report.problem = `not restarting: leases not current (${snap.notCurrent.join('; ')})`;
    report.ok = false;
    return done();
  }

  let batchSize = snap.stale.size;
  for (let round = 1; round <= (deps.maxRounds ?? 4) && snap.stale.size; round++) {
    const r0 = deps.now();
    const pending = nodes.filter((n) => snap.stale.has(n.name));
    const rec: PeerRepairRound = { batchSize, restarted: [], failed: [], leaseChanged: [], stale: {}, durationMs: 0 };
    for (let i = 0; i < pending.length; i += batchSize) {
      const batch = pending.slice(i, i + batchSize);
      deps.log?.(`    restarting flanneld on ${batch.map((n) => n.name).join(', ')} (stale peer state, round ${round})`);
      const { failed, leaseChanged } = await restartBatch(inv, deps, batch);
      rec.restarted.push(...batch.map((n) => n.name));
      rec.failed.push(...failed);
      rec.leaseChanged.push(...leaseChanged);
    }
    report.restarted.push(...rec.restarted.filter((n) => !report.restarted.includes(n)));
    snap = await observeSettled(inv, deps, deps.roundTimeoutMs);
    rec.stale = byNode(snap.stale);
    rec.durationMs = deps.now() - r0;
    report.rounds.push(rec);
    // Not converged, or a restart changed a lease (peers restarted with it may have missed that): smaller batches.
    if (snap.stale.size || rec.leaseChanged.length) batchSize = Math.max(1, Math.ceil(batchSize / 2));
  }
  report.remaining = byNode(snap.stale);
  report.ok = !snap.stale.size;
  if (!report.ok) {
    report.problem = `still stale after ${report.rounds.length} round(s): ${Object.entries(report.remaining).map(([n, p]) => `${n} (${p.join(', ')})`).join(', ')}`;
  }
  return done();
}

/** "flanneld restarted for stale peer state on node1 (node2, node3), node2 (node3): 1 round, 1.3 s". */
export function describeRepair(r: PeerRepairReport): string | undefined {
  if (!Object.keys(r.found).length && !r.restarted.length) return undefined;
  const what = Object.entries(r.found).map(([n, p]) => `${n} (${p.join(', ')})`).join(', ');
  if (!r.restarted.length) return `stale peer state on ${what}, not repaired: ${r.problem ?? 'unknown'}`;
  const tail = `${r.rounds.length} round${r.rounds.length === 1 ? '' : 's'}, ${(r.durationMs / 1000).toFixed(1)} s`;
  const extra = r.restarted.filter((n) => !(n in r.found));
  const also = extra.length ? `; also restarted ${extra.join(', ')}` : '';
  return r.ok
    ? `flanneld restarted for stale peer state on ${what}${also}: ${tail}`
    : `flanneld restarted for stale peer state on ${what}${also}, but ${r.problem} (${tail})`;
}
