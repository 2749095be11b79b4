/**
 * Inventory + PKI + tarball → the Steps of every target (DESIGN.md §3). Pure: the caller reads the
 * certificate files and the tarball; nothing here touches a host, etcd or the disk (templates aside).
 *
 * Order: the cluster-wide etcd config first (before any flanneld starts), then per node: certs →
 * ip_forward → binaries → iptables script → service definition → service running → lease +
 * subnet.env → iptables rules (they need the node subnet) — and, once every node is done, the peer
 * route check.
 */
import type { Inventory, NodeSpec } from '../model/inventory.js';
import type { Step } from '../engine/step.js';
import { binaryStep } from '../steps/binary.js';
import { etcdConfigStep, type ClusterState } from '../steps/etcd-config.js';
import { dirStep, fileStep } from '../steps/file.js';
import { iptablesRulesStep, iptablesScriptStep } from '../steps/iptables.js';
import { leaseWaitStep } from '../steps/lease-wait.js';
import { litterStep } from '../steps/litter.js';
import { moduleSteps } from '../steps/modules.js';
import { peerRoutesStep } from '../steps/peer-routes.js';
import { DEFINITION_ID, serviceDefinitionStep, serviceStep } from '../steps/service.js';
import { sysctlFileStep, sysctlRuntimeStep } from '../steps/sysctl.js';
import type { FlannelTarball } from './tarball.js';
import { etcdUsesTls, flanctlManagesIptables, remotePaths } from '../model/templates.js';

export interface Material {
  tarball: FlannelTarball;
  /** PEM texts for the node (CA that signed etcd's server cert, flanneld client cert and key); undefined for plain-http etcd. */
  tls?: { ca: string; cert: string; key: string };
}

export interface DesiredOptions {
  mode: 'apply' | 'check';
  /** How long a node may take to hold a lease and write subnet.env (default 60 s). */
  leaseTimeoutMs?: number;
  /** apply: how long the peer-route check waits for routes a just-started flanneld is still adding (default 10 s). */
  peerSettleMs?: number;
}

export interface DesiredNode {
  node: NodeSpec;
  steps: Step[];
  /** Run after every node's `steps` finished (peers must have registered first). */
  peerSteps: Step[];
}

export interface Desired {
  cluster: Step[];
  nodes: DesiredNode[];
  state: ClusterState;
}

export const CERT_STEP_IDS = ['cert:ca', 'cert:flanneld', 'cert:flanneld-key'];

export function nodeSteps(inv: Inventory, node: NodeSpec, material: Material, state: ClusterState, opts: DesiredOptions): Step[] {
  const p = remotePaths(inv);
  const steps: Step[] = [litterStep(inv)];
  if (etcdUsesTls(inv)) {
    if (!material.tls) throw new Error('desired: https etcd endpoints need the TLS material');
    steps.push(
      fileStep({ id: 'cert:ca', title: 'etcd CA certificate', path: p.ca, content: material.tls.ca, mode: 0o644 }),
      fileStep({ id: 'cert:flanneld', title: 'flanneld certificate', path: p.cert, content: material.tls.cert, mode: 0o644 }),
      fileStep({ id: 'cert:flanneld-key', title: 'flanneld key', path: p.key, content: material.tls.key, mode: 0o600, secret: true }),
    );
  }
  steps.push(...moduleSteps(inv), sysctlFileStep(), sysctlRuntimeStep());
  steps.push(binaryStep('binary:flanneld', 'flanneld', p.flanneld, material.tarball.flanneld));
  if (material.tarball.mkDockerOpts) steps.push(binaryStep('binary:mk-docker-opts', 'mk-docker-opts.sh', p.mkDockerOpts, material.tarball.mkDockerOpts));
  const iptables = flanctlManagesIptables(inv);
  if (iptables) steps.push(iptablesScriptStep(inv));
  if (inv.flannel.service === 'supervisord') steps.push(dirStep('dir:log', inv.flannel.logDir, 'log directory'));
  steps.push(serviceDefinitionStep(inv, node, { hasMkDockerOpts: !!material.tarball.mkDockerOpts }));
  steps.push(
    serviceStep(inv, {
      dependsOn: [...(etcdUsesTls(inv) ? CERT_STEP_IDS : []), 'binary:flanneld', DEFINITION_ID],
      watcherDependsOn: iptables ? ['file:iptables-script'] : [],
      restartReason: () => (state.configUpdated ? 'network config changed in etcd' : undefined),
    }),
  );
  steps.push(leaseWaitStep(inv, { timeoutMs: opts.leaseTimeoutMs ?? 60_000 }));
  if (iptables) steps.push(iptablesRulesStep(inv));
  return steps;
}

export function desiredState(inv: Inventory, material: Material, opts: DesiredOptions): Desired {
  const state: ClusterState = { configUpdated: false };
  const apply = opts.mode === 'apply';
  return {
    state,
    cluster: [etcdConfigStep(inv, state)],
    nodes: inv.nodes.map((node) => ({
      node,
      steps: nodeSteps(inv, node, material, state, opts),
      peerSteps: [peerRoutesStep(inv, { settleMs: apply ? (opts.peerSettleMs ?? 10_000) : 0, repairTimeoutMs: 30_000 })],
    })),
  };
}
