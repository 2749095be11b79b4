/**
 * src/switch/ owns switch-backend: prerequisites, the plan, the stop → clean → config → start →
 * verify transition and its rollback, and editing the inventory file. run.ts wires the real
 * dependencies for the command. It may import verify/, steps/ and below.
 *
 * `flanctl switch-backend`: preflight (every node reachable, etcd config = inventory, target
 * prerequisites), the plan and its confirmation, the transition, and on any failure after the
 * first stop the automatic rollback to the previous config and backend (transition.ts).
 */
import { DriftError, FlanctlError } from '../errors.js';
import type { Backend, Inventory } from '../model/inventory.js';
import { configKey, type Lease } from '../model/leases.js';
import { mapLimit } from '../engine/parallel.js';
import { backendFromDesc, backendLabel, describeBackend, describeConfigBackend, sameBackend, type BackendDesc } from './backend-desc.js';
import { configMatches, lineDiff, prettyJson } from '../model/flannel-config.js';
import { buildPlan, observeNode, redactConfig, renderPlan, type SwitchPlan } from './plan.js';
import { checkPrereqs, formatPrereqProblem } from './prereqs.js';
import { runTransition, TransitionError, type NodeStatus, type SwitchDeps } from './transition.js';
import { listLeases } from '../kv/flannel-keys.js';
import { interrupted } from '../engine/interrupt.js';
import type { PeerRepairReport } from '../bootstrap/peer-repair.js';

export interface SwitchOptions {
  to: Backend;
  force: boolean;
  rollback: boolean;
  dryRun: boolean;
  /** Shown the plan; resolves false to abort. Absent = --yes. */
  confirm?: (planLines: string[]) => Promise<boolean>;
}

export interface SwitchFullDeps extends SwitchDeps {
  /** The canonical `<prefix>/config` text for an inventory (flannel-config.ts). */
  configText(inv: Inventory): string;
  /** Writes the new backend into the inventory file; true when the file changed. */
  writeInventory(backend: Backend): Promise<boolean>;
}

export type SwitchOutcome = 'switched' | 'unchanged' | 'dry-run' | 'declined' | 'rolled-back' | 'rollback-failed' | 'failed';

export interface SwitchReport {
  command: 'switch-backend';
  outcome: SwitchOutcome;
  ok: boolean;
  from: string;
  to: string;
  plan?: SwitchPlan;
  /** First stop → verify green on the new backend (switched) or on the old one again (rolled-back). */
  downtimeMs?: number;
  /** Duration of each phase of the transition that ended green (the switch, or the rollback). */
  phasesMs?: Record<string, number>;
  failure?: { phase: string; message: string; nodes: string[]; pairs: string[]; checks: string[] };
  rollbackFailure?: { phase: string; message: string; nodes: string[]; pairs: string[] };
  nodes?: Record<string, NodeStatus>;
  inventoryUpdated?: boolean;
  /** Every stale-peer-state repair: after the switch's start and, if any, the rollback's. */
  peerRepairs?: Array<PeerRepairReport & { transition: 'switch' | 'rollback' }>;
  message: string;
}

const errText = (e: unknown) => (e instanceof Error ? e.message : String(e));

export const withBackend = (inv: Inventory, backend: Backend): Inventory => ({ ...inv, network: { ...inv.network, backend } });

async function preflight(inv: Inventory, opts: SwitchOptions, deps: SwitchFullDeps) {
  const unreachable = (await mapLimit(inv.nodes, deps.concurrency, async (n) => {
    const r = await (await deps.get(n.name)).exec(['true']);
    if (r.code !== 0) throw new Error(`\`true\` exited ${r.code}`);
  })).flatMap((r, i) => (r.ok ? [] : [`${inv.nodes[i].name}: ${errText(r.error).split('\n')[0]}`]));
  if (unreachable.length) throw new FlanctlError(`switch-backend refused, nothing changed: node(s) not reachable:\n  ${unreachable.join('\n  ')}`);

  const key = configKey(inv.etcd.prefix);
  const current = await deps.kv.get(key);
  if (current === undefined) throw new FlanctlError(`switch-backend refused: ${key} does not exist in etcd`, { hint: 'Run `flanctl bootstrap` first.' });
  const expected = deps.configText(inv);
  let from: BackendDesc = describeBackend(inv.network.backend);
  if (!configMatches(current, expected)) {
    const diff = lineDiff(prettyJson(redactConfig(expected)), prettyJson(redactConfig(current))).filter((l) => !l.startsWith('  '));
    if (!opts.force) {
      throw new DriftError(`switch-backend refused, nothing changed: ${key} in etcd differs from the inventory (- inventory, + etcd):\n  ${diff.join('\n  ')}`, {
        hint: 'Run `flanctl bootstrap` to converge, or pass --force to switch from what etcd holds.',
      });
    }
    from = describeConfigBackend(current) ?? from;
    deps.log(`warning: ${key} differs from the inventory; --force: switching from etcd's ${backendLabel(from)}`);
  }
  return { current, from };
}

const withRepairs = (r: NonNullable<SwitchReport['peerRepairs']>) => (r.length ? { peerRepairs: r } : {});

function nodesState(status: Map<string, NodeStatus>): Record<string, NodeStatus> {
  return Object.fromEntries([...status].map(([k, v]) => [k, { ...v }]));
}

export async function switchBackend(inv: Inventory, opts: SwitchOptions, deps: SwitchFullDeps): Promise<SwitchReport> {
  const to = describeBackend(opts.to);
  const { current, from } = await preflight(inv, opts, deps);
  const base = { command: 'switch-backend' as const, from: backendLabel(from), to: backendLabel(to) };
  if (sameBackend(from, to)) {
    return { ...base, outcome: 'unchanged', ok: true, message: `the cluster already runs ${backendLabel(to)}; nothing to do` };
  }

  const problems = await checkPrereqs(inv, from, to, deps.get, deps.concurrency);
  if (problems.length) {
    throw new FlanctlError(`switch-backend to ${backendLabel(to)} refused, nothing changed:\n  ${problems.map(formatPrereqProblem).join('\n  ')}`);
  }

  const newInv = withBackend(inv, opts.to);
  const newConfig = deps.configText(newInv);
  const leases = await listLeases(deps.kv, inv.etcd.prefix);
  const ownSubnet = (ip: string) => leases.find((l: Lease) => l.publicIp === ip)?.subnet;
  const states = await mapLimit(inv.nodes, deps.concurrency, async (n) => observeNode(await deps.get(n.name), ownSubnet(n.publicIp)));
  const plan = buildPlan(from, to, inv.network.cidr, { before: current, after: newConfig },
    inv.nodes.map((n, i) => ({ node: n.name, state: states[i].ok ? states[i].value : undefined })));
  if (opts.dryRun) return { ...base, outcome: 'dry-run', ok: true, plan, message: 'dry run: nothing changed' };
  if (opts.confirm && !(await opts.confirm(renderPlan(plan)))) {
    return { ...base, outcome: 'declined', ok: false, plan, message: 'not confirmed: nothing changed' };
  }

  const sig = interrupted();
  if (sig) return { ...base, outcome: 'declined', ok: false, plan, message: `interrupted (${sig}) before the first stop: nothing changed` };
  const status = new Map<string, NodeStatus>(inv.nodes.map((n) => [n.name, { phase: 'running', backend: base.from }]));
  let firstStopAt = 0;
  const peerRepairs: NonNullable<SwitchReport['peerRepairs']> = [];
  let transition: 'switch' | 'rollback' = 'switch';
  const repairPeers = deps.repairPeerState;
  const tracked: SwitchFullDeps = !repairPeers ? deps : {
    ...deps,
    repairPeerState: async (i) => {
      const r = await repairPeers(i);
      if (Object.keys(r.found).length) peerRepairs.push({ ...r, transition });
      return r;
    },
  };
  const repaired = () => {
    const names = [...new Set(peerRepairs.flatMap((p) => p.restarted))];
    return names.length ? `; flanneld restarted for stale peer state on ${names.join(', ')}` : '';
  };
  try {
    deps.log(`switching to ${base.to}`);
    const { greenAt, phasesMs } = await runTransition(tracked, {
      inv: newInv, from, to, configText: newConfig, status, onFirstStop: () => (firstStopAt = deps.now()),
      // The plan's read of each node plans its cleanup; the stop's round trip re-reads and checks it.
      observed: new Map(inv.nodes.flatMap((n, i) => { const st = states[i]; return st.ok ? [[n.name, st.value] as const] : []; })),
    });
    const downtimeMs = greenAt - firstStopAt;
    let inventoryUpdated = false;
    let note = '';
    try {
      inventoryUpdated = await deps.writeInventory(opts.to);
    } catch (e) {
      note = `; WARNING: the inventory file was not updated (${errText(e)}): set network.backend to ${base.to} by hand`;
    }
    return {
      ...base, outcome: 'switched', ok: !note, plan, downtimeMs, phasesMs, nodes: nodesState(status), inventoryUpdated, ...withRepairs(peerRepairs),
      message: `switched to ${base.to}; pod network down for ${(downtimeMs / 1000).toFixed(1)} s (first stop → verify green)${repaired()}${note}`,
    };
  } catch (e) {
    const te = e instanceof TransitionError ? e : new TransitionError('stop', errText(e));
    const failure = { phase: te.phase, message: te.message, nodes: te.failedNodes, pairs: te.failedPairs, checks: te.failedChecks };
    const what = `switch to ${base.to} failed in phase "${te.phase}": ${te.message}`;
    if (!opts.rollback) {
      return { ...base, outcome: 'failed', ok: false, plan, failure, nodes: nodesState(status), ...withRepairs(peerRepairs), message: `${what}\n--no-rollback: the cluster was left as it is (see nodes)` };
    }
    deps.log(`${what}\nrolling back to ${base.from}`);
    const oldInv = withBackend(inv, backendFromDesc(from) ?? inv.network.backend);
    try {
      transition = 'rollback';
      const { greenAt, phasesMs } = await runTransition(tracked, { inv: oldInv, from: to, to: from, configText: current, status });
      const downtimeMs = greenAt - firstStopAt;
      return {
        ...base, outcome: 'rolled-back', ok: false, plan, failure, downtimeMs, phasesMs, nodes: nodesState(status), ...withRepairs(peerRepairs),
        message: `${what}\nRolled back: the cluster is back on ${base.from} and verify is green (pod network down for ${(downtimeMs / 1000).toFixed(1)} s)${repaired()}. The inventory file was not changed.`,
      };
    } catch (re) {
      const rte = re instanceof TransitionError ? re : new TransitionError('stop', errText(re));
      const leasesNow = await listLeases(deps.kv, inv.etcd.prefix).catch(() => undefined);
      for (const n of inv.nodes) {
        const l = leasesNow?.find((x) => x.publicIp === n.publicIp);
        if (leasesNow) status.get(n.name)!.lease = l?.backendType ?? 'no lease';
      }
      const lines = [...status].map(([name, s]) => `${name}: ${s.phase}${s.phase === 'started' ? ` on ${s.backend}` : ''}, lease ${s.lease ?? 'unknown'}${s.error ? ` (${s.error})` : ''}`);
      return {
        ...base, outcome: 'rollback-failed', ok: false, plan, failure, nodes: nodesState(status), ...withRepairs(peerRepairs),
        rollbackFailure: { phase: rte.phase, message: rte.message, nodes: rte.failedNodes, pairs: rte.failedPairs },
        message: `${what}\nThe ROLLBACK to ${base.from} ALSO FAILED in phase "${rte.phase}": ${rte.message}\nNode states:\n  ${lines.join('\n  ')}`,
      };
    }
  }
}
