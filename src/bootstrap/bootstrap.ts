/**
 * src/bootstrap/ owns the bootstrap and plan operations: preflight, the desired state (the list of
 * Steps per node and for etcd, desired.ts), reading the release tarball. Operations may import steps/
 * and everything below, and verify/ (bootstrap ends with a verify).
 *
 * bootstrap and plan (issue 4): preflight everywhere → the cluster-wide etcd config → every node's
 * steps (in parallel, bounded) → once all nodes are done, the peer-state step on each (one repair for
 * all stale nodes together, peer-step.ts) → verify. plan is the same with mode 'check': nothing is applied.
 */
import type { Connector } from '../connector/connector.js';
import { openPool, type Pool } from '../connector/pool.js';
import { PATHS_ONLY_TARBALL, desiredState, nodeReads, spaceNeeds, type Material } from './desired.js';
import { converge, convergePhases, type Target } from '../engine/engine.js';
import type { Inventory, NodeSpec } from '../model/inventory.js';
import { openKv } from '../kv/index.js';
import { trace } from '../engine/trace.js';
import { acquireClusterLock, lockNotice, LockError, type ClusterLock } from '../kv/lock.js';
import { interrupted } from '../engine/interrupt.js';
import type { Kv } from '../kv/kv.js';
import { CLUSTER_TARGET, summaryLine, type OutputMode } from '../engine/output.js';
import { ensureFlanneldCert } from '../pki/index.js';
import { PreflightError, preflight } from './preflight.js';
import type { Report, TargetReport } from '../engine/report.js';
import { readFlannelTarball, type FlannelTarball } from './tarball.js';
import { readCniMaterial } from './cni-tarball.js';
import { etcdUsesTls } from '../model/templates.js';
import { runVerify, type VerifyReport } from '../verify/verify.js';
import { restartFlanneld } from '../steps/service.js';
import { sleep } from '../steps/util.js';
import { describeRepair, PEER_SETTLE_MS, repairPeerState, type PeerRepairDeps, type PeerRepairReport } from './peer-repair.js';
import { peerRepairCoordinator, peerStateStep } from './peer-step.js';
import { listLeases } from '../kv/flannel-keys.js';
import { limitedNames, withNodes } from '../model/selection.js';
import { batches, changingTargets, parseBatchSize, renderRollout, restartDowntime, untouchedReport, verifyProblems, type RolloutReport } from './rollout.js';

export interface BootstrapOptions {
  command: string;
  mode: 'apply' | 'check';
  concurrency?: number;
  output?: OutputMode;
  trustNewHosts?: boolean;
  /** Run verify after a successful apply (default true). */
  verify?: boolean;
  leaseTimeoutMs?: number;
  /** When this run (re)started flanneld: how long peers may take to appear before a node counts as stale (default PEER_SETTLE_MS, 0.5 s). */
  peerSettleMs?: number;
  /** Tests and the lab: replace SSH / etcd. */
  connect?: (node: NodeSpec) => Promise<Connector>;
  openKv?: () => Promise<Kv>;
  /** --limit: node names or globs to change (others are read as peers). */
  limit?: string;
  /** --batch-size: N nodes or "P%" per batch of a rolling change on running nodes (default 1). */
  batchSize?: string;
  /** Where the one-line summary goes (default stdout; not written when output is 'silent'). */
  log?: (line: string) => void;
  /** apply: how long to wait for another flanctl's cluster lock (--wait-lock); default 0 = fail at once. */
  lockWaitMs?: number;
  /** Lock notes and warnings (default stderr). */
  note?: (line: string) => void;
}

export interface BootstrapResult extends Report {
  verify?: VerifyReport;
  /** Present when running nodes were changed in batches. */
  rollout?: RolloutReport;
  /** Every stale-peer-state repair that found something: after the start, after each rollout batch. */
  peerRepairs?: Array<PeerRepairReport & { after: string }>;
  /** ms from the start of the run: `preflight` until preflight was done, `firstStep` until the node steps began. */
  timings?: { preflight: number; firstStep: number };
}

import { readTlsMaterial } from './tls-material.js';
export { readTlsMaterial };

/** One Report from several runs: a target's steps from later runs are appended to its earlier ones. */
export function mergeReports(parts: Array<Report | undefined>, durationMs: number): Report {
  const present = parts.filter((p): p is Report => !!p);
  const byName = new Map<string, TargetReport>();
  for (const t of present.flatMap((p) => p.targets)) {
    const prev = byName.get(t.name);
    byName.set(
      t.name,
      prev ? { ...prev, ok: prev.ok && t.ok, steps: [...prev.steps, ...t.steps], ...(prev.error || t.error ? { error: prev.error ?? t.error } : {}), durationMs: prev.durationMs + t.durationMs } : t,
    );
  }
  const targets = [...byName.values()];
  const steps = targets.flatMap((t) => t.steps);
  const changes = steps.filter((s) => s.status === 'changed' || s.status === 'planned');
  return {
    command: present[0].command,
    mode: present[0].mode,
    targets,
    summary: {
      targets: targets.length,
      changed: changes.length,
      unchanged: steps.filter((s) => s.status === 'unchanged').length,
      failed: targets.filter((t) => !t.ok).length,
      restarts: changes.filter((s) => s.change?.action === 'restart').length,
    },
    durationMs,
  };
}

export async function runBootstrap(inv: Inventory, opts: BootstrapOptions): Promise<BootstrapResult> {
  const t0 = performance.now();
  trace('bootstrap: start');
  const only = limitedNames(inv, opts.limit);
  const scope = withNodes(inv, only);
  const concurrency = opts.concurrency ?? inv.ssh.concurrency;
  const output = opts.output ?? 'auto';
  const batchSize = parseBatchSize(opts.batchSize, scope.nodes.length);
  const pool: Pool = openPool(inv, { trustNewHosts: opts.trustNewHosts, connect: opts.connect });
  let kv: Kv | undefined;
  let tarball: FlannelTarball | undefined;
  let lock: ClusterLock | undefined;
  const note = opts.note ?? ((l: string) => process.stderr.write(`${l}\n`));
  const takeLock = (k: Kv) => acquireClusterLock(k, inv.etcd.prefix, opts.command, { waitMs: opts.lockWaitMs, log: note });
  let early: Kv | undefined;
  try {
    // The SSH connects start first (preflight shares them): dialled while the etcd client loads and the lock is taken (load-order.ts).
    for (const n of scope.nodes.slice(0, concurrency)) pool.get(n.name).catch(() => {});
    // The tarball is read from the start too, alongside the handshakes and the lock (preflight waits for it last).
    const tarballRead = readFlannelTarball(inv.flannel.tarball, { sha256: inv.flannel.tarballSha256 });
    tarballRead.catch(() => {});
    if (opts.mode === 'apply') {
      // The lock comes first, so a second run fails at once; etcd trouble is left to preflight to report.
      try {
        early = await (opts.openKv ?? (() => openKv(inv)))();
        lock = await takeLock(early);
        trace('bootstrap: cluster lock held');
      } catch (e) {
        if (e instanceof LockError) throw e;
        await early?.close().catch(() => {});
        early = undefined;
      }
    }
    const pre = await preflight(scope, {
      connect: (node) => pool.get(node.name),
      openKv: early ? async () => early! : opts.openKv ?? (() => openKv(inv)),
      ensureCert: etcdUsesTls(inv) ? () => ensureFlanneldCert(inv) : undefined,
      readTarball: () => tarballRead,
      spaceNeeds: (t) => spaceNeeds(inv, t, () => readTlsMaterial(inv)),
      spacePaths: () => spaceNeeds(inv, PATHS_ONLY_TARBALL, () => readTlsMaterial(inv)).map((n) => n.path),
      reads: async (node, got) => nodeReads(inv, node, PATHS_ONLY_TARBALL, got.kv, { mode: opts.mode }),
      concurrency,
    });
    trace('bootstrap: preflight done');
    const preflightMs = Math.round(performance.now() - t0);
    kv = pre.kv;
    tarball = pre.tarball;
    if (pre.problems.length || !kv || !tarball) throw new PreflightError(pre.problems);
    const clusterKv = kv;
    if (opts.mode === 'apply') lock ??= await takeLock(clusterKv);
    else {
      const busy = await lockNotice(clusterKv, inv.etcd.prefix);
      if (busy) note(busy);
    }

    const desired = desiredState(inv, { tarball, tls: readTlsMaterial(inv), cni: await readCniMaterial(inv) }, { mode: opts.mode, leaseTimeoutMs: opts.leaseTimeoutMs, nodes: scope.nodes });
    const etcd: Target = { name: CLUSTER_TARGET, steps: desired.cluster, open: async () => ({ inventory: inv, kv: clusterKv }) };
    const nodeTarget = (node: NodeSpec, steps: Target['steps']): Target => ({
      name: node.name,
      steps,
      open: async () => ({ inventory: inv, node, conn: await pool.get(node.name), kv: clusterKv }),
    });
    const common = { command: opts.command, mode: opts.mode, concurrency, output, summary: false } as const;
    const verifyOpts = { concurrency, probe: inv.network.backend.type === 'host-gw' };

    // Nodes that already hold a lease run flanneld: changes that restart it roll out in batches.
    const leased = new Set((await listLeases(clusterKv, inv.etcd.prefix)).map((l) => l.publicIp));
    const rolling = opts.mode === 'apply' ? desired.nodes.filter((d) => leased.has(d.node.publicIp)) : [];
    const fresh = desired.nodes.filter((d) => !rolling.includes(d));
    const repairs: NonNullable<BootstrapResult['peerRepairs']> = [];
    trace(`bootstrap: converging (${fresh.length} new node(s), ${rolling.length} running)`);
    const timings = { preflight: preflightMs, firstStep: Math.round(performance.now() - t0) };
    const first = await convergePhases([[etcd], fresh.map((d) => nodeTarget(d.node, d.steps))], common);
    trace('bootstrap: first phase done');
    const ok = new Set(first.targets.filter((t) => t.ok).map((t) => t.name));
    if (!ok.has(CLUSTER_TARGET)) return await finish([first]);

    // Which running nodes differ (checked after the etcd config, so a config change shows as restarts).
    const planned = rolling.length
      ? await converge(rolling.map((d) => nodeTarget(d.node, d.steps)), { ...common, mode: 'check', output: 'silent' })
      : undefined;
    const { changing, restarting } = planned ? changingTargets(planned) : { changing: new Set<string>(), restarting: new Set<string>() };
    const steady = planned ? { ...planned, targets: planned.targets.filter((t) => !changing.has(t.name)) } : undefined;

    // Running nodes whose changes keep flanneld running (rules, the iptables script) converge at once.
    const quiet = rolling.filter((d) => changing.has(d.node.name) && !restarting.has(d.node.name));
    const quietReport = quiet.length ? await converge(quiet.map((d) => nodeTarget(d.node, d.steps)), common) : undefined;
    const quietOk = new Set(quietReport?.targets.filter((t) => t.ok).map((t) => t.name) ?? []);

    // Phase 3: peers have registered only once every node is done; check (and repair) peer state:
    // one look at every node, one repair restarting all stale nodes together (peer-step.ts).
    const peerNodes = [...fresh.filter((d) => ok.has(d.node.name)), ...rolling.filter((d) => !changing.has(d.node.name) || quietOk.has(d.node.name))];
    const started = first.targets.some((t) => t.steps.some((s) => s.id === 'service:flanneld' && (s.status === 'changed' || s.status === 'planned')));
    const coord = peerRepairCoordinator(inv, repairDeps(started, peerNodes.map((d) => d.node)));
    trace('bootstrap: peer state');
    const peers = peerNodes.length ? await converge(peerNodes.map((d) => nodeTarget(d.node, [peerStateStep(coord)])), common) : undefined;
    const startRepair = await coord.report();
    if (startRepair) repairs.push({ ...startRepair, after: 'start' });

    const rollout = restarting.size ? await roll(rolling.filter((d) => restarting.has(d.node.name))) : undefined;
    return await finish([first, steady, quietReport, peers, ...(rollout?.reports ?? [])], rollout?.report);

    function repairDeps(settle: boolean, nodes: NodeSpec[]): PeerRepairDeps {
      return {
        get: (name) => pool.get(name),
        kv: clusterKv,
        restart: async (conn, i, node) => void (await restartFlanneld(i, conn, { kv: clusterKv, node })),
        now: () => Date.now(),
        sleep,
        concurrency,
        settleMs: opts.mode === 'apply' && settle ? (opts.peerSettleMs ?? PEER_SETTLE_MS) : 0,
        roundTimeoutMs: 10_000,
        nodes,
      };
    }

    async function roll(list: typeof rolling): Promise<{ reports: Report[]; report: RolloutReport }> {
      const report: RolloutReport = { batchSize, batches: [] };
      const reports: Report[] = [];
      const groups = batches(list, batchSize);
      for (const [i, group] of groups.entries()) {
        const b0 = performance.now();
        const names = group.map((d) => d.node.name);
        const r = await converge(group.map((d) => nodeTarget(d.node, d.steps)), common);
        reports.push(r);
        const failedTargets = r.targets.filter((t) => !t.ok);
        // The batch restarted flanneld: every node (the batch's peers too) must hold its peers' leases.
        if (!failedTargets.length) {
          const rep = await repairPeerState(inv, repairDeps(true, scope.nodes));
          if (Object.keys(rep.found).length) repairs.push({ ...rep, after: `batch ${i + 1}` });
        }
        let verifyFailures: string[] | undefined;
        if (!failedTargets.length && opts.verify !== false) {
          const v = await runVerify(inv, pool, clusterKv, { ...verifyOpts, only: new Set(names) });
          if (!v.ok) verifyFailures = verifyProblems(v);
        }
        const downtimeMs = Math.max(0, ...group.map((d) => restartDowntime(r.targets.find((t) => t.name === d.node.name))));
        const error = failedTargets.length ? failedTargets.map((t) => `${t.name}: ${t.error}`).join('; ') : verifyFailures ? `verify: ${verifyFailures.join('; ')}` : undefined;
        report.batches.push({ index: i + 1, nodes: names, ok: !error, downtimeMs, durationMs: Math.round(performance.now() - b0), ...(verifyFailures ? { verifyFailures } : {}), ...(error ? { error } : {}) });
        if (error) {
          const untouched = groups.slice(i + 1).flat().map((d) => d.node.name);
          report.stopped = { batch: i + 1, nodes: names, untouched, reason: error };
          if (untouched.length) reports.push(untouchedReport(opts, untouched, `not started: the rollout stopped at batch ${i + 1} (${names.join(', ')})`));
          break;
        }
      }
      return { reports, report };
    }

    async function finish(parts: Array<Report | undefined>, rollout?: RolloutReport): Promise<BootstrapResult> {
      trace('bootstrap: done');
      const report: BootstrapResult = { ...mergeReports(parts, Math.round(performance.now() - t0)), timings };
      const sig = interrupted();
      if (sig) report.interrupted = sig;
      if (rollout) {
        report.rollout = rollout;
        if (rollout.stopped) report.targets.filter((t) => rollout.stopped!.nodes.includes(t.name)).forEach((t) => (t.ok = false, t.error ??= rollout.stopped!.reason));
        report.summary.failed = report.targets.filter((t) => !t.ok).length;
      }
      if (repairs.length) report.peerRepairs = repairs;
      if (output !== 'silent') {
        const log = opts.log ?? ((l) => process.stdout.write(`${l}\n`));
        for (const rep of repairs) log(`${describeRepair(rep)}${rep.after === 'start' ? '' : ` (after rollout ${rep.after})`}`);
        if (rollout) renderRollout(rollout).forEach((l) => log(l));
        log(summaryLine(report));
      }
      if (opts.mode === 'apply' && opts.verify !== false && report.summary.failed === 0 && !sig) {
        report.verify = await runVerify(inv, pool, clusterKv, { ...verifyOpts, only });
      }
      return report;
    }
  } finally {
    await lock?.release();
    await pool.closeAll();
    await kv?.close().catch(() => {});
    if (early !== kv) await early?.close().catch(() => {});
  }
}

