/**
 * verify's read-only commands on one node, fetched in one round trip (a facts batch,
 * connector/facts.ts) before its checks run: the facts gatherFacts reads, the service state,
 * flanctl's iptables rules, the certificate (read by the cert check and the node info), flanneld's
 * version, the docker probe and flanneld's /healthz. runVerify adds the node's pings when their
 * targets follow from the leases alone (earlyPings below), so they run in the same round trip.
 */
import { readArgv } from '../connector/remote-scripts.js';
import type { Inventory, NodeSpec } from '../model/inventory.js';
import type { Lease } from '../model/leases.js';
import { ownLease } from './checks.js';
import { pingArgv } from './probes.js';
import { hasFlannelDevice, planTargets, type PlannedPair, type TargetPlan } from './targets.js';
import { SUPERVISORD_PROGRAMS, remotePaths } from '../model/templates.js';
import { iptablesCheckArgv } from '../steps/iptables.js';
import { supervisorStatusArgv } from '../steps/service-state.js';
import { dockerProbeArgv } from './docker-check.js';
import { gatherReads } from './facts.js';
import { flanctlIptablesRules, flanneldCertPath, healthzHost } from './node-layout.js';
import { healthzArgv } from '../steps/service.js';

export function verifyReads(inv: Inventory, node: NodeSpec, lease: Lease | undefined, vxlanDev: string | undefined, checks: boolean): string[][] {
  const facts = gatherReads(inv.flannel.subnetFile, vxlanDev);
  if (!checks) return facts;
  const rules = lease ? flanctlIptablesRules(inv, lease.subnet) : undefined;
  const cert = flanneldCertPath(inv);
  return [
    ...facts,
    inv.flannel.service === 'systemd' ? ['systemctl', 'is-active', 'flanneld'] : supervisorStatusArgv([SUPERVISORD_PROGRAMS.flanneld]),
    ...(rules ? [...rules.ensure, ...rules.absent].map(iptablesCheckArgv) : []),
    ...(cert ? [readArgv(cert), readArgv(cert)] : []),
    [remotePaths(inv).flanneld, '-version'],
    ...(inv.flannel.healthzPort > 0 ? [healthzArgv(healthzHost(inv, node), inv.flannel.healthzPort)] : []),
    ...(inv.docker.integration ? [dockerProbeArgv(inv), readArgv(inv.flannel.subnetFile)] : []),
  ];
}

/** The pairs a node pings: those with a target, to or from a node being checked. */
export function pairsFrom(plan: TargetPlan, from: string, wanted: (name: string) => boolean): PlannedPair[] {
  return plan.pairs.filter((p) => p.from === from && p.target && (wanted(p.from) || wanted(p.to)));
}

/** One plan per lease list read and inventory (every node of a verify run uses the same one). */
const plans = new WeakMap<Lease[], { inv: Inventory; plan: TargetPlan }>();

/**
 * The node's ping command, for its facts batch, when the targets follow from the leases alone (a
 * backend with a flannel device pings each peer's lease .0; host-gw needs the nodes' bridges, read
 * from the facts, and maybe probe interfaces first). The pings then run alongside the node's reads
 * in one round trip; the ping phase's identical command is answered from the batch.
 */
export function earlyPings(inv: Inventory, leases: Lease[], node: NodeSpec, wanted: (name: string) => boolean): string[][] {
  const type = inv.network.backend.type;
  if (!hasFlannelDevice(type)) return [];
  let plan = plans.get(leases)?.inv === inv ? plans.get(leases)!.plan : undefined;
  if (!plan) plans.set(leases, { inv, plan: (plan = planTargets(type, inv.nodes.map((n) => ({ name: n.name, subnet: ownLease(leases, n)?.subnet })), { probe: false })) });
  const targets = pairsFrom(plan, node.name, wanted).map((p) => p.target!);
  return targets.length ? [pingArgv(targets, { source: plan.sources.get(node.name) })] : [];
}
