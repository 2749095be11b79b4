/**
 * One cluster-wide backend transition (FLANNEL.md §6 "safe procedure"): stop flanneld on every node
 * at once and remove the old backend's state in the same round trip (the cleanup is planned from the
 * node's state read before the stop, and the state after it is re-read and checked), write
 * `<prefix>/config`, start every node at once (each start returns when that flanneld is ready), wait
 * until every lease shows the new BackendType, repair stale peer state, verify. Used for the switch and, in reverse,
 * for the rollback. Throws TransitionError naming the phase and the nodes or pairs that failed;
 * `status` always says where each node got to.
 */
import type { Connector } from '../connector/connector.js';
import type { Inventory, NodeSpec } from '../model/inventory.js';
import type { Kv } from '../kv/kv.js';
import { configKey, type Lease } from '../model/leases.js';
import { mapLimit } from '../engine/parallel.js';
import { backendLabel, type BackendDesc } from './backend-desc.js';
import { cleanupPlan, isMissingError, type CleanupAction, type NodeNetState } from './cleanup.js';
import { observeNode } from './plan.js';
import { parseLinks, parseRoutes } from './iproute.js';
import { listLeases } from '../kv/flannel-keys.js';
import { describeRepair, type PeerRepairReport } from '../bootstrap/peer-repair.js';

export interface VerifySummary {
  ok: boolean;
  /** "node1 → node3" for every pair that failed. */
  failedPairs: string[];
  /** "node2: routes: …" for every failed health check. */
  failedChecks: string[];
}

export interface SwitchDeps {
  get(node: string): Promise<Connector>;
  kv: Kv;
  /**
   * Stop flanneld and, once it is down, run `afterStop` (the cleanup) in the same round trip; the
   * outcome of each command and, when read, the node's links and routes afterwards.
   */
  stopService(conn: Connector, inv: Inventory, node: NodeSpec, afterStop: string[][]): Promise<StopOutcome>;
  /** Start flanneld; resolves when it is ready (subnet.env rewritten, up), throws saying what is missing. */
  startService(conn: Connector, inv: Inventory, node: NodeSpec): Promise<void>;
  verify(inv: Inventory, opts: { probe: boolean }): Promise<VerifySummary>;
  /**
   * After the leases: every node's kernel must hold every peer's lease (route, neighbour, FDB);
   * flanneld v0.20.2 can miss peers or a new VtepMAC when nodes start together (FLANNEL.md §9).
   * Restarts the stale nodes together (bootstrap/peer-repair.ts) and reports what it did.
   */
  repairPeerState?(inv: Inventory): Promise<PeerRepairReport>;
  /**
   * Bring what bootstrap owns on the node in line with the transition's backend (today
   * /etc/modules-load.d/flanctl.conf lists the backend's module), so `plan` is clean afterwards.
   */
  persistNode?(conn: Connector, inv: Inventory, node: NodeSpec): Promise<void>;
  log(line: string): void;
  now(): number;
  sleep(ms: number): Promise<void>;
  concurrency: number;
  leaseTimeoutMs: number;
  /** Verify runs up to this many times (a few seconds apart) while flanneld programs its peers. */
  verifyAttempts: number;
  verifyIntervalMs: number;
}

export interface StopOutcome {
  /** Exit code and stderr of each afterStop command, in order. */
  actions: Array<{ code: number; stderr: string }>;
  /** `ip -j link show` / `ip -4 -j route show table main` after them; undefined: read them separately. */
  links?: string;
  routes?: string;
}

export type NodePhase = 'running' | 'stop-failed' | 'stopped' | 'cleanup-failed' | 'cleaned' | 'start-failed' | 'started';

export interface NodeStatus {
  phase: NodePhase;
  /** The backend label the node was last started (or found running) with. */
  backend: string;
  /** BackendType of its lease in etcd, when read. */
  lease?: string;
  error?: string;
}

export type Phase = 'observe' | 'stop' | 'cleanup' | 'config' | 'start' | 'leases' | 'peers' | 'verify';

export class TransitionError extends Error {
  constructor(readonly phase: Phase, message: string, readonly failedNodes: string[] = [], readonly failedPairs: string[] = [], readonly failedChecks: string[] = []) {
    super(message);
    this.name = 'TransitionError';
  }
}

export interface TransitionSpec {
  /** The inventory describing the cluster after this transition (its backend = `to`). */
  inv: Inventory;
  from: BackendDesc;
  to: BackendDesc;
  /** Exact text written to `<prefix>/config`. */
  configText: string;
  status: Map<string, NodeStatus>;
  /** Called once, right before the first stop. */
  onFirstStop?: () => void;
  /** Each node's state read before the stop (the plan's); nodes missing here are read by the transition. */
  observed?: Map<string, NodeNetState>;
}

const errText = (e: unknown) => (e instanceof Error ? e.message : String(e)).split('\n')[0];

async function eachNode(deps: SwitchDeps, spec: TransitionSpec, phase: Phase, fn: (n: NodeSpec, conn: Connector) => Promise<void>, ok: NodePhase, bad: NodePhase): Promise<void> {
  const results = await mapLimit(spec.inv.nodes, deps.concurrency, async (n) => fn(n, await deps.get(n.name)));
  const failed: string[] = [];
  results.forEach((r, i) => {
    const name = spec.inv.nodes[i].name;
    const st = spec.status.get(name)!;
    if (r.ok) {
      st.phase = ok;
      delete st.error;
    } else {
      st.phase = bad;
      st.error = errText(r.error);
      failed.push(`${name}: ${st.error}`);
    }
  });
  if (failed.length) {
    throw new TransitionError(phase, `${phase} failed on ${failed.length} node(s):\n  ${failed.join('\n  ')}`, failed.map((f) => f.split(':')[0]));
  }
}

function leaseOf(leases: Lease[], n: NodeSpec): Lease | undefined {
  return leases.find((l) => l.publicIp === n.publicIp);
}

function leaseMatches(l: Lease | undefined, to: BackendDesc): boolean {
  if (!l) return false;
  // udp and alloc leases carry no BackendType (FLANNEL.md §6).
  if ((l.backendType ?? (to.type === 'udp' ? 'udp' : undefined)) !== to.type) return false;
  if (to.type === 'vxlan' && typeof l.backendData?.VNI === 'number' && l.backendData.VNI !== to.vni) return false;
  return true;
}

function checkActions(actions: CleanupAction[], results: StopOutcome['actions']): void {
  actions.forEach((a, i) => {
    const r = results[i] ?? { code: 1, stderr: 'not run' };
    if (r.code !== 0 && !(a.okIfMissing && isMissingError(r.stderr))) throw new Error(`\`${a.argv.join(' ')}\` exited ${r.code}: ${r.stderr.trim()}`);
  });
}

/**
 * After the stop round trip: the node's state re-read (from the same round trip when it carried it),
 * and whatever the cleanup still finds (something that appeared after the plan's read) removed now.
 */
async function finishCleanup(spec: TransitionSpec, n: NodeSpec, conn: Connector, ownSubnet: string | undefined, out: StopOutcome): Promise<void> {
  let after: NodeNetState | undefined;
  try {
    if (out.links !== undefined && out.routes !== undefined) {
      after = { links: parseLinks(out.links).map((l) => l.ifname), routes: parseRoutes(out.routes), ownSubnet };
    }
  } catch {
    after = undefined;
  }
  after ??= await observeNode(conn, ownSubnet, false);
  const rest = cleanupPlan(spec.from, spec.to, spec.inv.network.cidr, after).actions;
  for (const a of rest) {
    const r = await conn.exec(a.argv);
    checkActions([a], [r]);
  }
}

async function waitForLeases(deps: SwitchDeps, spec: TransitionSpec): Promise<void> {
  const { inv, to } = spec;
  const deadline = deps.now() + deps.leaseTimeoutMs;
  for (;;) {
    const leases = await listLeases(deps.kv, inv.etcd.prefix);
    const missing = inv.nodes.filter((n) => !leaseMatches(leaseOf(leases, n), to));
    for (const n of inv.nodes) spec.status.get(n.name)!.lease = leaseOf(leases, n)?.backendType;
    if (!missing.length) return;
    if (deps.now() >= deadline) {
      const what = missing.map((n) => `${n.name} (${leaseOf(leases, n)?.backendType ?? 'no lease'})`).join(', ');
      throw new TransitionError('leases', `no ${to.type} lease after ${Math.round(deps.leaseTimeoutMs / 1000)} s for: ${what}`, missing.map((n) => n.name));
    }
    await deps.sleep(500);
  }
}

async function verifyUntilGreen(deps: SwitchDeps, spec: TransitionSpec): Promise<VerifySummary> {
  let last: VerifySummary | undefined;
  for (let attempt = 1; attempt <= Math.max(1, deps.verifyAttempts); attempt++) {
    if (attempt > 1) await deps.sleep(deps.verifyIntervalMs);
    last = await deps.verify(spec.inv, { probe: spec.to.type === 'host-gw' });
    if (last.ok) return last;
    deps.log(`  verify attempt ${attempt}: ${last.failedPairs.length} failed pair(s), ${last.failedChecks.length} failed check(s)`);
  }
  const v = last!;
  const parts = [v.failedPairs.length && `unreachable pairs: ${v.failedPairs.join(', ')}`, v.failedChecks.length && `failed checks: ${v.failedChecks.join('; ')}`].filter(Boolean);
  throw new TransitionError('verify', `verify failed on ${backendLabel(spec.to)}: ${parts.join('; ') || 'not green'}`, [], v.failedPairs, v.failedChecks);
}

export interface TransitionResult {
  greenAt: number;
  verify: VerifySummary;
  phasesMs: Partial<Record<Phase, number>>;
  /** The stale-peer-state repair, when there was anything to repair. */
  peerRepair?: PeerRepairReport;
}

/** Runs the transition; resolves with the time verify went green and each phase's duration. */
export async function runTransition(deps: SwitchDeps, spec: TransitionSpec): Promise<TransitionResult> {
  const { inv, from, to } = spec;
  const toLabel = backendLabel(to);
  const leasesBefore = await listLeases(deps.kv, inv.etcd.prefix).catch(() => [] as Lease[]);
  const phasesMs: Partial<Record<Phase, number>> = {};
  const timed = async <T>(p: Phase, line: string, fn: () => Promise<T>): Promise<T> => {
    deps.log(line);
    const t0 = deps.now();
    try {
      return await fn();
    } finally {
      phasesMs[p] = deps.now() - t0;
      deps.log(`    ${p}: ${(phasesMs[p]! / 1000).toFixed(1)} s`);
    }
  };

  // The cleanup is planned from each node's state before the stop (outside the downtime).
  const own = (n: NodeSpec) => leaseOf(leasesBefore, n)?.subnet;
  const missing = inv.nodes.filter((n) => !spec.observed?.has(n.name));
  const observed = new Map(spec.observed ?? []);
  if (missing.length) {
    await timed('observe', `  reading ${missing.length} node(s) before the stop`, async () => {
      const rs = await mapLimit(missing, deps.concurrency, async (n) => observeNode(await deps.get(n.name), own(n), false));
      rs.forEach((r, i) => r.ok && observed.set(missing[i].name, r.value));
    });
  }
  const plans = new Map(inv.nodes.map((n) => {
    const st = observed.get(n.name);
    return [n.name, cleanupPlan(from, to, inv.network.cidr, st ? { ...st, ownSubnet: own(n) } : undefined).actions] as const;
  }));

  spec.onFirstStop?.();
  const cleanFailed = new Set<string>();
  await timed('stop', `  stopping flanneld on ${inv.nodes.length} node(s) and removing ${from.type} state (devices, neighbour/FDB entries, routes inside ${inv.network.cidr})`, () =>
    eachNode(deps, spec, 'stop', async (n, conn) => {
      const actions = plans.get(n.name)!;
      const [out] = await Promise.all([deps.stopService(conn, inv, n, actions.map((a) => a.argv)), deps.persistNode?.(conn, inv, n)]);
      spec.status.get(n.name)!.phase = 'stopped';
      try {
        checkActions(actions, out.actions);
        await finishCleanup(spec, n, conn, own(n), out);
      } catch (e) {
        cleanFailed.add(n.name);
        throw e;
      }
    }, 'cleaned', 'stop-failed').catch((e: unknown) => {
      // A node that stopped but whose cleanup failed is "cleanup-failed" (phase cleanup).
      if (!(e instanceof TransitionError) || !e.failedNodes.every((f) => cleanFailed.has(f))) throw e;
      for (const f of e.failedNodes) spec.status.get(f)!.phase = 'cleanup-failed';
      throw new TransitionError('cleanup', e.message.replace(/^stop failed/, 'cleanup failed'), e.failedNodes);
    }));

  await timed('config', `  writing ${inv.etcd.prefix}/config (${toLabel})`, async () => {
    try {
      await deps.kv.put(configKey(inv.etcd.prefix), spec.configText);
    } catch (e) {
      throw new TransitionError('config', `writing ${configKey(inv.etcd.prefix)} failed: ${errText(e)}`);
    }
  });

  const start = async (n: NodeSpec, conn: Connector) => {
    await deps.startService(conn, inv, n);
    spec.status.get(n.name)!.backend = toLabel;
  };
  await timed('start', `  starting flanneld on ${inv.nodes.length} node(s)`, () => eachNode(deps, spec, 'start', start, 'started', 'start-failed'));
  await timed('leases', `  waiting for every lease to show BackendType ${to.type}`, () => waitForLeases(deps, spec));
  let peerRepair: PeerRepairReport | undefined;
  const repair = deps.repairPeerState;
  if (repair) {
    peerRepair = await timed('peers', '  checking every node holds every peer\'s lease (routes, neighbour and FDB entries)', () => repair(inv));
    const line = describeRepair(peerRepair);
    if (line) deps.log(`    ${line}`);
    if (!peerRepair.ok) {
      const nodes = Object.keys(peerRepair.remaining);
      throw new TransitionError('peers', `stale peer state on ${Object.entries(peerRepair.remaining).map(([n, p]) => `${n} (${p.join(', ')})`).join(', ')}: ${peerRepair.problem ?? 'not repaired'}`, nodes);
    }
  }
  const verify = await timed('verify', `  verifying${to.type === 'host-gw' ? ' (with probe addresses)' : ''}`, () => verifyUntilGreen(deps, spec));
  return { greenAt: deps.now(), verify, phasesMs, ...(peerRepair && Object.keys(peerRepair.found).length ? { peerRepair } : {}) };
}
