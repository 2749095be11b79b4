/**
 * src/bootstrap/ owns the bootstrap and plan operations: preflight, the desired state (the list of
 * Steps per node and for etcd, desired.ts), reading the release tarball. Operations may import steps/
 * and everything below, and verify/ (bootstrap ends with a verify).
 *
 * bootstrap and plan (issue 4): preflight everywhere → the cluster-wide etcd config → every node's
 * steps (in parallel, bounded) → once all nodes are done, the peer-route check on each → verify.
 * plan is the same with mode 'check': nothing is applied.
 */
import { readFileSync } from 'node:fs';
import type { Connector } from '../connector/connector.js';
import { openPool, type Pool } from '../connector/pool.js';
import { desiredState, type Material } from './desired.js';
import { converge, convergePhases, type Target } from '../engine/engine.js';
import { etcdTlsFiles, type Inventory, type NodeSpec } from '../model/inventory.js';
import { openKv } from '../kv/index.js';
import { acquireClusterLock, lockNotice, LockError, type ClusterLock } from '../kv/lock.js';
import { interrupted } from '../engine/interrupt.js';
import type { Kv } from '../kv/kv.js';
import { CLUSTER_TARGET, summaryLine, type OutputMode } from '../engine/output.js';
import { certFiles, ensureFlanneldCert } from '../pki/index.js';
import { PreflightError, preflight } from './preflight.js';
import type { Report, TargetReport } from '../engine/report.js';
import { readFlannelTarball, type FlannelTarball } from './tarball.js';
import { etcdUsesTls, remotePaths } from '../model/templates.js';
import type { SpaceNeed } from '../steps/space.js';
import { runVerify, type VerifyReport } from '../verify/verify.js';

export interface BootstrapOptions {
  command: string;
  mode: 'apply' | 'check';
  concurrency?: number;
  output?: OutputMode;
  trustNewHosts?: boolean;
  /** Run verify after a successful apply (default true). */
  verify?: boolean;
  leaseTimeoutMs?: number;
  peerSettleMs?: number;
  /** Tests and the lab: replace SSH / etcd. */
  connect?: (node: NodeSpec) => Promise<Connector>;
  openKv?: () => Promise<Kv>;
  /** Where the one-line summary goes (default stdout; not written when output is 'silent'). */
  log?: (line: string) => void;
  /** apply: how long to wait for another flanctl's cluster lock (--wait-lock); default 0 = fail at once. */
  lockWaitMs?: number;
  /** Lock notes and warnings (default stderr). */
  note?: (line: string) => void;
}

export interface BootstrapResult extends Report {
  verify?: VerifyReport;
}

/** The node-side TLS files: the CA etcd's server cert chains to, and the flanneld client cert/key. The CA key is never read. */
export function readTlsMaterial(inv: Inventory): Material['tls'] {
  if (!etcdUsesTls(inv)) return undefined;
  const flanneld = certFiles(inv.pki.dir, 'flanneld');
  return {
    ca: readFileSync(etcdTlsFiles(inv).ca, 'utf8'),
    cert: readFileSync(flanneld.certFile, 'utf8'),
    key: readFileSync(flanneld.keyFile, 'utf8'),
  };
}

/** The big files a bootstrap writes on every node (binaries, certificates), for preflight's free-space check. */
export function spaceNeeds(inv: Inventory, t: FlannelTarball): SpaceNeed[] {
  const p = remotePaths(inv);
  const needs: SpaceNeed[] = [{ path: p.flanneld, bytes: t.flanneld.content.length }];
  if (t.mkDockerOpts) needs.push({ path: p.mkDockerOpts, bytes: t.mkDockerOpts.content.length });
  try {
    const tls = readTlsMaterial(inv);
    if (tls) needs.push({ path: p.ca, bytes: tls.ca.length }, { path: p.cert, bytes: tls.cert.length }, { path: p.key, bytes: tls.key.length });
  } catch {
    /* certificates are issued during preflight; their few kB do not matter here */
  }
  return needs;
}

/** Report of phases 1–2 with each node's phase-3 (peer routes) steps appended. */
export function mergeReports(first: Report, peers: Report | undefined, durationMs: number): Report {
  const extra = new Map((peers?.targets ?? []).map((t) => [t.name, t]));
  const targets: TargetReport[] = first.targets.map((t) => {
    const p = extra.get(t.name);
    if (!p) return t;
    return { ...t, ok: t.ok && p.ok, steps: [...t.steps, ...p.steps], ...(t.error || p.error ? { error: t.error ?? p.error } : {}), durationMs: t.durationMs + p.durationMs };
  });
  const steps = targets.flatMap((t) => t.steps);
  const changes = steps.filter((s) => s.status === 'changed' || s.status === 'planned');
  return {
    command: first.command,
    mode: first.mode,
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
  const concurrency = opts.concurrency ?? inv.ssh.concurrency;
  const output = opts.output ?? 'auto';
  const pool: Pool = openPool(inv, { trustNewHosts: opts.trustNewHosts, connect: opts.connect });
  let kv: Kv | undefined;
  let tarball: FlannelTarball | undefined;
  let lock: ClusterLock | undefined;
  const note = opts.note ?? ((l: string) => process.stderr.write(`${l}\n`));
  const takeLock = (k: Kv) => acquireClusterLock(k, inv.etcd.prefix, opts.command, { waitMs: opts.lockWaitMs, log: note });
  let early: Kv | undefined;
  try {
    if (opts.mode === 'apply') {
      // The lock comes first, so a second run fails at once; etcd trouble is left to preflight to report.
      try {
        early = await (opts.openKv ?? (() => openKv(inv)))();
        lock = await takeLock(early);
      } catch (e) {
        if (e instanceof LockError) throw e;
        await early?.close().catch(() => {});
        early = undefined;
      }
    }
    const pre = await preflight(inv, {
      connect: (node) => pool.get(node.name),
      openKv: early ? async () => early! : opts.openKv ?? (() => openKv(inv)),
      ensureCert: etcdUsesTls(inv) ? () => ensureFlanneldCert(inv) : undefined,
      readTarball: () => readFlannelTarball(inv.flannel.tarball),
      spaceNeeds: (t) => spaceNeeds(inv, t),
      concurrency,
    });
    kv = pre.kv;
    tarball = pre.tarball;
    if (pre.problems.length || !kv || !tarball) throw new PreflightError(pre.problems);
    const clusterKv = kv;
    if (opts.mode === 'apply') lock ??= await takeLock(clusterKv);
    else {
      const busy = await lockNotice(clusterKv, inv.etcd.prefix);
      if (busy) note(busy);
    }

    const desired = desiredState(inv, { tarball, tls: readTlsMaterial(inv) }, { mode: opts.mode, leaseTimeoutMs: opts.leaseTimeoutMs, peerSettleMs: opts.peerSettleMs });
    const etcd: Target = { name: CLUSTER_TARGET, steps: desired.cluster, open: async () => ({ inventory: inv, kv: clusterKv }) };
    const nodeTarget = (node: NodeSpec, steps: Target['steps']): Target => ({
      name: node.name,
      steps,
      open: async () => ({ inventory: inv, node, conn: await pool.get(node.name), kv: clusterKv }),
    });
    const common = { command: opts.command, mode: opts.mode, concurrency, output, summary: false } as const;
    const first = await convergePhases([[etcd], desired.nodes.map((d) => nodeTarget(d.node, d.steps))], common);

    // Phase 3: peers have registered only once every node is done; check (and repair) routes.
    const ok = new Set(first.targets.filter((t) => t.ok).map((t) => t.name));
    const peerTargets = ok.has(CLUSTER_TARGET) ? desired.nodes.filter((d) => ok.has(d.node.name)).map((d) => nodeTarget(d.node, d.peerSteps)) : [];
    const peers = peerTargets.length ? await converge(peerTargets, common) : undefined;

    const report: BootstrapResult = mergeReports(first, peers, Math.round(performance.now() - t0));
    const sig = interrupted();
    if (sig) report.interrupted = sig;
    if (output !== 'silent') (opts.log ?? ((l) => process.stdout.write(`${l}\n`)))(summaryLine(report));
    if (opts.mode === 'apply' && opts.verify !== false && report.summary.failed === 0 && !sig) {
      report.verify = await runVerify(inv, pool, clusterKv, { concurrency, probe: inv.network.backend.type === 'host-gw' });
    }
    return report;
  } finally {
    await lock?.release();
    await pool.closeAll();
    await kv?.close().catch(() => {});
    if (early !== kv) await early?.close().catch(() => {});
  }
}
