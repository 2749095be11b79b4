/**
 * Inventory + PKI + tarball → the Steps of every target (DESIGN.md §3). Pure: the caller reads the
 * certificate files and the tarball; nothing here touches a host, etcd or the disk (templates aside).
 *
 * Order: the cluster-wide etcd config first (before any flanneld starts), then per node: certs →
 * ip_forward → binaries → iptables script → service definition → service running → lease +
 * subnet.env → iptables rules (they need the node subnet). Once every node is done, bootstrap adds
 * the peer-state step (peer-step.ts).
 */
import type { Inventory, NodeSpec } from '../model/inventory.js';
import { stepReads, type Step } from '../engine/step.js';
import type { Kv } from '../kv/kv.js';
import { binaryStep } from '../steps/binary.js';
import { etcdConfigStep, type ClusterState } from '../steps/etcd-config.js';
import { dirStep, fileStep } from '../steps/file.js';
import { iptablesRulesStep, iptablesScriptStep } from '../steps/iptables.js';
import { iptablesGuardSteps } from '../steps/iptables-guard.js';
import { iptablesRetireSteps } from '../steps/iptables-retire.js';
import { watcherUpStep } from '../steps/service-supervisord.js';
import { leaseWaitStep } from '../steps/lease-wait.js';
import { litterStep } from '../steps/litter.js';
import { moduleSteps } from '../steps/modules.js';
import { DEFINITION_ID, serviceDefinitionStep, serviceStep } from '../steps/service.js';
import { sysctlFileStep, sysctlRuntimeStep } from '../steps/sysctl.js';
import type { FlannelTarball } from './tarball.js';
import type { SpaceNeed } from '../steps/space.js';
import { dockerSteps } from '../steps/docker.js';
import { cniSteps } from '../steps/cni.js';
import type { CniMaterial } from './cni-tarball.js';
import { etcdUsesTls, flanctlManagesIptables, remotePaths } from '../model/templates.js';

export interface Material {
  tarball: FlannelTarball;
  /** cni.enabled: the flannel CNI plugin (and reference plugins) read from the inventory's tarballs. */
  cni?: CniMaterial;
  /** PEM texts for the node (CA that signed etcd's server cert, flanneld client cert and key); undefined for plain-http etcd. */
  tls?: { ca: string; cert: string; key: string };
}

export interface DesiredOptions {
  mode: 'apply' | 'check';
  /** How long a node may take to hold a lease and write subnet.env (default 60 s). */
  leaseTimeoutMs?: number;
  /** --limit: build node steps for these nodes only (default: every inventory node; peers are always all). */
  nodes?: NodeSpec[];
}

export interface DesiredNode {
  node: NodeSpec;
  steps: Step[];
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
  const docker = dockerSteps(inv);
  // Not managed (any more): what an earlier inventory installed for the rules goes (steps/iptables-retire.ts).
  const retire = iptables ? undefined : iptablesRetireSteps(inv);
  steps.push(...(retire?.beforeService ?? []));
  steps.push(serviceDefinitionStep(inv, node, { hasMkDockerOpts: !!material.tarball.mkDockerOpts }), ...docker.beforeService);
  steps.push(
    serviceStep(inv, {
      dependsOn: [...(etcdUsesTls(inv) ? CERT_STEP_IDS : []), 'binary:flanneld', DEFINITION_ID],
      watcherDependsOn: iptables ? ['file:iptables-script'] : [],
      restartReason: () => (state.configUpdated ? 'network config changed in etcd' : undefined),
      readyTimeoutMs: opts.leaseTimeoutMs,
    }),
  );
  steps.push(leaseWaitStep(inv, { timeoutMs: opts.leaseTimeoutMs ?? 60_000 }));
  steps.push(...(iptables ? [iptablesRulesStep(inv)] : retire!.afterService));
  steps.push(...docker.afterLease, ...cniSteps(inv, material.cni));
  // systemd has no watcher program: a oneshot after flanneld + docker and a timer do that job.
  if (iptables && inv.flannel.service === 'systemd') steps.push(...iptablesGuardSteps(inv));
  // supervisord: the watcher the service step started without waiting is judged last (past its startsecs).
  if (iptables && inv.flannel.service === 'supervisord') steps.push(watcherUpStep());
  return steps;
}

export function desiredState(inv: Inventory, material: Material, opts: DesiredOptions): Desired {
  const state: ClusterState = { configUpdated: false };
  return {
    state,
    cluster: [etcdConfigStep(inv, state)],
    nodes: (opts.nodes ?? inv.nodes).map((node) => ({
      node,
      steps: nodeSteps(inv, node, material, state, opts),
    })),
  };
}

/**
 * A stand-in for the tarball where only paths matter (the steps' reads, the free-space paths): both
 * binaries present, no content. Preflight asks the nodes with it while the real tarball is still being
 * read; a tarball without mk-docker-opts.sh only leaves one unused answer in the batch.
 */
export const PATHS_ONLY_TARBALL: FlannelTarball = {
  file: '(paths only)',
  flanneld: { sha256: '', size: 0, load: async () => Buffer.alloc(0) },
  mkDockerOpts: { sha256: '', size: 0, load: async () => Buffer.alloc(0) },
};

/**
 * The reads of a node's steps before the material is complete (preflight fetches them with its own
 * checks, in one round trip): reads name paths, never contents, so the certificates may be blanks.
 * CNI plugins are left out (their material is read later): their reads go in the target's own batch.
 */
export function nodeReads(inv: Inventory, node: NodeSpec, tarball: FlannelTarball, kv: Kv | undefined, opts: DesiredOptions): Promise<string[][]> {
  const tls = etcdUsesTls(inv) ? { ca: '', cert: '', key: '' } : undefined;
  return stepReads(nodeSteps(inv, node, { tarball, tls }, { configUpdated: false }, opts), { inventory: inv, node, kv });
}

/** The big files a bootstrap writes on every node (binaries, certificates), for preflight's free-space check. */
export function spaceNeeds(inv: Inventory, t: FlannelTarball, tls: () => Material['tls']): SpaceNeed[] {
  const p = remotePaths(inv);
  const needs: SpaceNeed[] = [{ path: p.flanneld, bytes: t.flanneld.size }];
  if (t.mkDockerOpts) needs.push({ path: p.mkDockerOpts, bytes: t.mkDockerOpts.size });
  try {
    const m = tls();
    if (m) needs.push({ path: p.ca, bytes: m.ca.length }, { path: p.cert, bytes: m.cert.length }, { path: p.key, bytes: m.key.length });
  } catch {
    /* the certificates are checked elsewhere; their few kB do not matter here */
  }
  return needs;
}
