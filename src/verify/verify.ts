/**
 * src/verify/ owns the read-only operations verify and status: facts read from nodes, the ping
 * matrix, health checks, their rendering (text, JUnit). It may import steps/ (parsers and probes
 * shared with the service step) and below; it never changes a node beyond temporary probe links.
 *
 * runVerify: the reachability matrix over the overlay plus per-node health checks (issue 5).
 * Phases: leases from etcd, while connecting to every node (each node's reads fetched in one round
 * trip once it is connected and the leases are known) → start the remote checks (service, iptables,
 * healthz, cert) and, alongside them, read facts (links, routes, subnet.env) → add probe interfaces
 * (host-gw --probe) → one ping command per node, all nodes at once → always remove the probe
 * interfaces → collect the remote checks → judge. Read-only apart from the probe interfaces.
 * Throws (exit 1) only when verify cannot run: etcd unreachable, or SSH to a node failing.
 */
import type { Connector } from '../connector/connector.js';
import { EtcdError, ExitCode, FlanctlError, SshError, errorMessage, type ExitCodeValue } from '../errors.js';
import type { Inventory, NodeSpec } from '../model/inventory.js';
import type { Kv } from '../kv/kv.js';
import { type Lease } from '../model/leases.js';
import { mapLimit } from '../engine/parallel.js';
import { trace } from '../engine/trace.js';
import { expectedMtu, fail, localChecks, ownLease, pass, type Check } from './checks.js';
import { gatherFacts, interfaceHolding, type NodeFacts } from './facts.js';
import { flanctlIptablesRules, flanneldCertPath, healthzHost } from './node-layout.js';
import { addProbeInterface, pingAll, removeProbeInterface, type PingResult, type ProbeInterface } from './probes.js';
import { checkCert, checkHealthz, checkIptables, checkService } from './remote-checks.js';
import { checkDocker } from './docker-check.js';
import { earlyPings, pairsFrom, verifyReads } from './verify-reads.js';
import { isFactSource } from '../connector/facts.js';
import { readNodeInfo, type NodeInfo } from './node-info.js';
import { PROBE_IFACE, bridgeAddress, planTargets, type PlannedPair } from './targets.js';
import { listLeases } from '../kv/flannel-keys.js';
import type { PodsReport } from './pods/judge.js';
import { runPods, type PodsCni } from './pods/run.js';
import { conflistPath } from '../model/cni.js';

export interface VerifyOptions {
  /** host-gw: add a temporary flanctl-probe interface where no interface holds the node's .1. */
  probe?: boolean;
  /** Also ping every peer with `-M do -s <FLANNEL_MTU − 28>`. */
  mtu?: boolean;
  /** The cert check fails when the flanneld cert expires within this many days (default 30). */
  warnDays?: number;
  /** Nodes handled at once (default: ssh.concurrency). */
  concurrency?: number;
  now?: number;
  /** Also run the pod network check (issue 17): throwaway pods, pod ↔ pod with source addresses, masquerade out. */
  pods?: boolean;
  /** With pods: create the pods through these CNI plugins (cni.enabled) instead of netns + veth. */
  podsCni?: PodsCni;
  /** --limit: check only these nodes and the pairs to or from them (every peer is still pinged). */
  only?: Set<string>;
}

export interface PairResult {
  from: string;
  to: string;
  /** The overlay address pinged; null when there was nothing to ping ("no target"). */
  target: string | null;
  ok: boolean;
  rttMs: number | null;
  error: string | null;
}

export interface VerifyReport {
  backend: string;
  nodes: string[];
  pairs: PairResult[];
  checks: Check[];
  /** Temporary flanctl-probe interfaces added (and removed) for host-gw targets. */
  probes: ProbeInterface[];
  summary: { pairs: number; pairsOk: number; checks: number; checksOk: number };
  /** verify --pods: the pod network section. */
  pods?: PodsReport;
  ok: boolean;
  /** When verify started (ISO 8601). */
  startedAt?: string;
  /** Per node: flanneld version, lease subnet/ttl/age, cert expiry (node-info.ts). */
  nodeInfo?: NodeInfo[];
  durationMs: number;
}

/** Where verify gets a node's connection: the connector pool (openPool) or anything with get(). */
export interface ConnectorSource {
  get(nodeName: string): Promise<Connector>;
}

interface NodeState {
  node: NodeSpec;
  conn: Connector;
  facts: NodeFacts;
  checks: Check[];
  lease?: Lease;
}

async function readLeases(kv: Kv, inv: Inventory): Promise<Lease[]> {
  try {
    return await listLeases(kv, inv.etcd.prefix, { ttl: true });
  } catch (err) {
    if (err instanceof FlanctlError) throw err;
    throw new EtcdError(`cannot list leases under ${inv.etcd.prefix}/subnets: ${errorMessage(err)}`, { cause: err });
  }
}

/**
 * Connect to every node and, as soon as a node is connected and the leases are read, fetch its reads
 * in one round trip (verify-reads.ts). The SSH handshakes are started before the lease read: sshd's
 * side of them runs on other cores while this process loads the etcd client (load-order.ts).
 * Nothing runs on a node when the lease read fails.
 */
async function connectAndRead(inv: Inventory, pool: ConnectorSource, limit: number, leasesRead: () => Promise<Lease[]>, reads: (node: NodeSpec, leases: Lease[]) => string[][]) {
  return mapLimit(inv.nodes, limit, async (node) => {
    const conn = await pool.get(node.name);
    const leases = await leasesRead().catch(() => undefined);
    if (leases && isFactSource(conn)) await conn.prefetch(reads(node, leases)).catch(() => {});
    trace(`verify: ${node.name} connected and read`);
    return conn;
  });
}

function connectedOrThrow(inv: Inventory, results: Awaited<ReturnType<typeof connectAndRead>>): Connector[] {
  const failed = results.flatMap((r, i) => (r.ok ? [] : [`${inv.nodes[i].name}: ${errorMessage(r.error)}`]));
  if (failed.length) {
    // What was prefetched on the nodes that did connect is dropped.
    for (const r of results) if (r.ok && isFactSource(r.value)) r.value.forget();
    throw new SshError(`verify cannot reach ${failed.length} node${failed.length === 1 ? '' : 's'}:\n  ${failed.join('\n  ')}`, {
      hint: 'Check SSH access (ssh section of the inventory) and that the nodes are up.',
    });
  }
  return results.map((r) => (r as { ok: true; value: Connector }).value);
}

/** Checks that run their own command on the node (slow ones, e.g. supervisorctl): started first, awaited last. */
async function remoteChecks(inv: Inventory, node: NodeSpec, conn: Connector, lease: Lease | undefined, opts: { warnDays: number; now?: number }) {
  const certPath = flanneldCertPath(inv);
  const [service, iptables, healthz, cert, docker] = await Promise.all([
    checkService(conn, inv, node),
    lease
      ? checkIptables(conn, node, flanctlIptablesRules(inv, lease.subnet), inv.iptables.masquerade)
      : Promise.resolve(fail(node.name, 'iptables', 'not checked: the node has no lease (rules name its subnet)')),
    inv.flannel.healthzPort > 0 ? checkHealthz(conn, node, healthzHost(inv, node), inv.flannel.healthzPort) : Promise.resolve(undefined),
    certPath ? checkCert(conn, node, certPath, opts.warnDays, opts.now) : Promise.resolve(undefined),
    checkDocker(conn, inv, node),
  ]);
  return { first: [service], last: [iptables, healthz, cert, docker].filter((c): c is Check => c !== undefined) };
}

/** The MTU probe size for a node: FLANNEL_MTU (subnet.env, else computed) − 28 bytes of IP+ICMP headers. */
function mtuProbeSize(inv: Inventory, s: NodeState): number | undefined {
  const fromEnv = Number(s.facts.subnetEnv?.FLANNEL_MTU);
  if (Number.isFinite(fromEnv) && fromEnv > 0) return fromEnv - 28;
  const iface = s.facts.links.find((l) => l.name === s.node.iface);
  return iface ? expectedMtu(inv.network.backend, iface.mtu) - 28 : undefined;
}

function mtuCheck(s: NodeState, size: number | undefined, planned: PlannedPair[], results: PingResult[]): Check {
  if (size === undefined) return fail(s.node.name, 'mtu', `cannot tell FLANNEL_MTU (no subnet.env, no ${s.node.iface})`);
  const bad = planned.flatMap((p, i) => (results[i]?.ok ? [] : [`${p.to} (${p.target}): ${results[i]?.error ?? 'no result'}`]));
  return bad.length
    ? fail(s.node.name, 'mtu', `${size + 28}-byte packets with DF lost to ${bad.join('; ')}`)
    : pass(s.node.name, 'mtu', `${size + 28}-byte packets with DF reach ${planned.length} peer${planned.length === 1 ? '' : 's'}`);
}

export async function runVerify(inv: Inventory, pool: ConnectorSource, kv: Kv, options: VerifyOptions = {}): Promise<VerifyReport> {
  const started = Date.now();
  const opts = { warnDays: 30, ...options };
  const limit = opts.concurrency ?? inv.ssh.concurrency;
  const wanted = (name: string) => !opts.only || opts.only.has(name);
  const vxlanDev = inv.network.backend.type === 'vxlan' ? `flannel.${inv.network.backend.vni}` : undefined;
  // SSH first, then etcd: the connects are dialled before the etcd client loads (load-order.ts).
  let leasesRead: Promise<Lease[]> | undefined;
  const connecting = connectAndRead(inv, pool, limit, () => leasesRead!, (node, leases) => [
    ...verifyReads(inv, node, ownLease(leases, node), vxlanDev, wanted(node.name)),
    ...earlyPings(inv, leases, node, wanted),
  ]);
  leasesRead = readLeases(kv, inv);
  leasesRead.catch(() => {});
  // An etcd failure is the one reported (exit 1), whether or not SSH fails too: nothing has run on any
  // node then, and the connects still under way are dropped by the pool's closeAll. Then SSH failures.
  const leases = await leasesRead;
  trace(`verify: ${leases.length} lease(s) read`);
  const conns = connectedOrThrow(inv, await connecting);
  try {
    return await verifyWith();
  } finally {
    for (const c of conns) if (isFactSource(c)) c.forget();
  }

  async function verifyWith(): Promise<VerifyReport> {
    const remote = mapLimit(inv.nodes, limit, (node, i) =>
      wanted(node.name) ? remoteChecks(inv, node, conns[i], ownLease(leases, node), opts) : Promise.resolve({ first: [], last: [] }),
    );
    const info = mapLimit(inv.nodes, limit, (node, i) => (wanted(node.name) ? readNodeInfo(conns[i], inv, node.name, ownLease(leases, node)) : Promise.resolve(null)));
    const gathered = await mapLimit(inv.nodes, limit, (node, i) => gatherFacts(conns[i], inv.flannel.subnetFile, vxlanDev));
    const states: NodeState[] = inv.nodes.map((node, i) => {
      const g = gathered[i];
      const facts: NodeFacts = g.ok ? g.value : { links: [], routes: [], errors: { links: errorMessage(g.error), routes: errorMessage(g.error) } };
      return { node, conn: conns[i], facts, checks: wanted(node.name) ? localChecks({ inv, node, facts, leases }) : [], lease: ownLease(leases, node) };
    });

    const type = inv.network.backend.type;
    const plan = planTargets(
      type,
      states.map((s) => ({
        name: s.node.name,
        subnet: s.lease?.subnet,
        bridge: s.lease ? interfaceHolding(s.facts.links, bridgeAddress(s.lease.subnet), PROBE_IFACE) : undefined,
      })),
      { probe: !!opts.probe },
    );
    const byName = new Map(states.map((s) => [s.node.name, s]));

    let probes: ProbeInterface[] = [];
    const pings = new Map<string, PingResult[]>();
    const mtuChecks: Check[] = [];
    try {
      probes = await Promise.all(plan.probes.map((p) => addProbeInterface(byName.get(p.node)!.conn, p.node, p.address)));
      await mapLimit(states, Math.max(limit, 1), async (s) => {
        const planned = pairsFrom(plan, s.node.name, wanted);
        const targets = planned.map((p) => p.target!);
        const source = plan.sources.get(s.node.name);
        const size = opts.mtu ? mtuProbeSize(inv, s) : undefined;
        const [basic, big] = await Promise.all([
          pingAll(s.conn, targets, { source }),
          opts.mtu && size !== undefined ? pingAll(s.conn, targets, { source, size }) : Promise.resolve([]),
        ]);
        pings.set(s.node.name, basic);
        if (opts.mtu && wanted(s.node.name)) mtuChecks.push(mtuCheck(s, size, planned, big));
      });
    } finally {
      probes = await Promise.all(probes.map((p) => (p.created ? removeProbeInterface(byName.get(p.node)!.conn, p) : Promise.resolve(p))));
    }

    const pods = opts.pods
      ? await runPods(inv, states.map((s) => ({ node: s.node, conn: s.conn, subnet: s.lease?.subnet, env: s.facts.subnetEnv })), { cni: opts.podsCni ?? (inv.cni.enabled ? { binDir: inv.cni.binDir, conflist: conflistPath(inv) } : undefined), limit })
      : undefined;

    trace('verify: pings done');
    const remoteResults = await remote;
    const nodeInfo = (await info).flatMap((r) => (r.ok && r.value ? [r.value] : []));
    for (const [i, s] of states.entries()) {
      const r = remoteResults[i];
      s.checks = r.ok ? [...r.value.first, ...s.checks, ...r.value.last] : [...s.checks, fail(s.node.name, 'remote checks', errorMessage(r.error))];
    }

    const probeErrors = new Map(probes.filter((p) => p.error).map((p) => [p.node, p.error!]));
    const pairs: PairResult[] = plan.pairs.filter((p) => wanted(p.from) || wanted(p.to)).map((p) => {
      if (!p.target) return { from: p.from, to: p.to, target: null, ok: false, rttMs: null, error: p.reason ?? 'no target' };
      const r = pings.get(p.from)?.find((x) => x.target === p.target);
      const probeError = probeErrors.get(p.to);
      if (r?.ok) return { from: p.from, to: p.to, target: p.target, ok: true, rttMs: r.rttMs ?? null, error: null };
      const error = [r?.error ?? 'not pinged', probeError && `probe interface on ${p.to}: ${probeError}`].filter(Boolean).join('; ');
      return { from: p.from, to: p.to, target: p.target, ok: false, rttMs: null, error };
    });
    const probeChecks = probes
      .filter((p) => !p.removed)
      .map((p) => fail(p.node, 'probe', `${PROBE_IFACE} could not be removed: ${p.error ?? 'unknown error'}; remove it with: ip link del ${PROBE_IFACE}`));
    const order = new Map(inv.nodes.map((n, i) => [n.name, i]));
    const checks = [...states.flatMap((s) => s.checks), ...mtuChecks, ...probeChecks].sort(
      (a, b) => (order.get(a.node) ?? 0) - (order.get(b.node) ?? 0),
    );
    const pairsOk = pairs.filter((p) => p.ok).length;
    const checksOk = checks.filter((c) => c.ok).length;
    return {
      backend: type,
      nodes: inv.nodes.map((n) => n.name).filter(wanted),
      pairs,
      checks,
      probes,
      summary: { pairs: pairs.length, pairsOk, checks: checks.length, checksOk },
      ...(pods ? { pods } : {}),
      ok: pairsOk === pairs.length && checksOk === checks.length && (pods?.ok ?? true),
      startedAt: new Date(opts.now ?? started).toISOString(),
      nodeInfo,
      durationMs: Date.now() - started,
    };
  }
}

/** 0 when every pair and check passed, 3 (drift) otherwise. verify throws (exit 1) when it cannot run. */
export function verifyExitCode(report: VerifyReport): ExitCodeValue {
  return report.ok ? ExitCode.ok : ExitCode.drift;
}
