/**
 * `verify --pods` (issue 17): a throwaway pod on every node, then real traffic between them.
 * Phases, each one remote command per node, all nodes at once:
 *   setup (netns + veth on the node's bridge, or CNI ADD with the installed conflist)
 *   → arm (per-source counting rules in each pod; a FLANCTL-PODS chain for masquerade-out; snapshot
 *     of the node's nat table and FORWARD chain with counters)
 *   → round 1 pings (pod → every other pod, pod → own node, host → own pod)
 *   → collect, then round 2 in the same command (pod → the next node's public address, must be
 *     masqueraded) → collect
 *   → teardown (always: on failure, and on SIGINT/SIGTERM before exiting).
 * Judging is in assess.ts. Never throws for node-side problems: they become failed checks.
 */
import type { Connector } from '../../connector/connector.js';
import type { Inventory, NodeSpec } from '../../model/inventory.js';
import { mapLimit } from '../../engine/parallel.js';
import { lastAddress } from '../../model/cidr.js';
import { hostAddress, parseCidr } from '../addr.js';
import { parsePingOutput, pingAll, type PingResult } from '../probes.js';
import { bridgeAddress, deviceAddress, hasFlannelDevice } from '../targets.js';
import { assessPods, type PodNodeState } from './assess.js';
import { countsByTag, markers, parseCounted, podIpFromCniResult, sections, type CountedRule, type PodsReport } from './judge.js';
import { conflistPlugins } from '../../model/cni.js';
import { ARM, COLLECT, COLLECT_THEN_PING, POD_NS, SETUP_CNI, SETUP_RUNTIME, TEARDOWN } from './scripts.js';

export interface PodsTarget {
  node: NodeSpec;
  conn: Connector;
  /** The node's lease subnet ("10.244.3.0/24"), when it has one. */
  subnet?: string;
  /** subnet.env as read by verify. */
  env?: Record<string, string>;
}

/** CNI mode: where the plugins and the installed conflist are (cni.binDir, cni.confDir/10-flannel.conflist). */
export interface PodsCni {
  binDir: string;
  conflist: string;
}

type Plugins = Array<{ type: string; conf: string }>;
/** Per node: the plugin chain read from the node's installed conflist (teardown DELs through it). */
const chains = new WeakMap<PodNodeState, Plugins>();

export interface PodsOptions {
  cni?: PodsCni;
  limit: number;
}

const sh = (conn: Connector, script: string, args: string[], timeoutMs = 30_000) =>
  conn.exec(['sh', '-s', '--', ...args], { stdin: script, timeoutMs }).catch((e: unknown) => ({ code: 255, stdout: '', stderr: e instanceof Error ? e.message : String(e) }));

/** The same connection, every command run inside the pod's network namespace. */
function inPod(conn: Connector): Connector {
  return {
    name: conn.name,
    exec: (argv, o) => conn.exec(['ip', 'netns', 'exec', POD_NS, ...argv], o),
    read: (p) => conn.read(p),
    write: (p, c, m) => conn.write(p, c, m),
    close: () => Promise.resolve(),
  };
}

const containerId = (node: string) => `flanctl-verify-pods-${node}`;

function snapshot(text: string): CountedRule[] {
  const s = sections(text);
  return [...parseCounted(s.get('nat') ?? '', 'nat'), ...parseCounted(s.get('forward') ?? '', 'filter')];
}

function emptyState(t: PodsTarget, via: 'cni' | 'runtime', bridge: string): PodNodeState {
  return {
    name: t.node.name,
    publicIp: t.node.publicIp,
    pod: { node: t.node.name, ip: null, via, bridge, bridgeCreated: false, removed: false },
    podTags: new Map(),
    podCounts: new Map(),
    hostCounts: new Map(),
    snap: { before: [], mid: [], after: [] },
    fromPod: [],
    leftovers: [],
  };
}

async function setup(t: PodsTarget, s: PodNodeState, inv: Inventory, cni?: PodsCni): Promise<void> {
  const env = t.env ?? {};
  const fsub = env.FLANNEL_SUBNET;
  if (!t.subnet || !fsub) {
    s.pod.error = `no FLANNEL_SUBNET in ${inv.flannel.subnetFile} or no lease: the node cannot host pods`;
    return;
  }
  const mtu = env.FLANNEL_MTU ?? '1450';
  const len = parseCidr(t.subnet).len;
  let plugins: Plugins = [];
  if (cni) {
    try {
      const text = await t.conn.read(cni.conflist);
      if (!text) throw new Error('not found (bootstrap installs it with cni.enabled)');
      plugins = conflistPlugins(text.toString('utf8'));
    } catch (err) {
      s.pod.error = `${cni.conflist}: ${err instanceof Error ? err.message : String(err)}`;
      return;
    }
    chains.set(s, plugins);
  }
  const args = cni
    ? [s.pod.bridge, cni.binDir, containerId(s.name), ...plugins.flatMap((p) => [p.type, p.conf])]
    : [s.pod.bridge, fsub, mtu, `${hostAddress(lastAddress(t.subnet) + '/32', -1)}/${len}`, bridgeAddress(t.subnet)];
  const r = await sh(t.conn, cni ? SETUP_CNI : SETUP_RUNTIME, args);
  const m = markers(r.stdout);
  s.pod.bridgeCreated = m.some((x) => x.key === 'bridge-created');
  const refuse = m.find((x) => x.key === 'refuse');
  const err = m.find((x) => x.key === 'error');
  if (refuse) s.pod.error = `bridge ${s.pod.bridge} has real containers on it (ports: ${refuse.value}); verify --pods will not touch it`;
  else if (err) s.pod.error = err.value;
  else if (cni) {
    const ip = podIpFromCniResult(sections(r.stdout).get('result') ?? '');
    if (ip) s.pod.ip = ip;
    else s.pod.error = `CNI ADD gave no IPv4 address: ${(sections(r.stdout).get('result') ?? r.stderr).trim().slice(0, 300)}`;
  } else {
    const pod = m.find((x) => x.key === 'pod');
    if (pod) s.pod.ip = pod.value.split('/')[0];
    else s.pod.error = `pod setup failed: ${(r.stderr || r.stdout).trim().split('\n').pop() ?? `exit ${r.code}`}`;
  }
}

async function teardown(t: PodsTarget, s: PodNodeState, cni?: PodsCni): Promise<void> {
  const del = cni ? [...(chains.get(s) ?? [])].reverse().flatMap((p) => [p.type, p.conf]) : [];
  const r = await sh(t.conn, TEARDOWN, [s.pod.bridge, s.pod.bridgeCreated ? '1' : '0', cni?.binDir ?? '-', containerId(s.name), ...del]);
  const m = markers(r.stdout);
  s.leftovers = m.filter((x) => x.key === 'left').map((x) => x.value);
  const errs = m.filter((x) => x.key === 'error').map((x) => x.value);
  if (r.code !== 0) s.leftovers.push(`teardown did not run: ${(r.stderr || r.stdout).trim().split('\n').pop()}`);
  s.leftovers.push(...errs);
  s.pod.removed = s.leftovers.length === 0;
}

/** Tags for node b's pod chain: every other node's pod, public, flannel-device and bridge address. */
function podTags(b: PodNodeState, all: PodNodeState[], targets: Map<string, PodsTarget>, deviceBackend: boolean): Map<string, string> {
  const tags = new Map<string, string>();
  for (const a of all) {
    if (a === b) continue;
    const sub = targets.get(a.name)?.subnet;
    if (a.pod.ip) tags.set(`pod.${a.name}`, a.pod.ip);
    tags.set(`pub.${a.name}`, a.publicIp);
    if (sub && deviceBackend) tags.set(`dev.${a.name}`, deviceAddress(sub));
    if (sub) tags.set(`br.${a.name}`, bridgeAddress(sub));
  }
  return tags;
}

export async function runPods(inv: Inventory, targets: PodsTarget[], opts: PodsOptions): Promise<PodsReport> {
  const started = Date.now();
  const via = opts.cni ? 'cni' : 'runtime';
  const bridge = opts.cni ? 'cni0' : inv.iptables.bridge;
  const states = targets.map((t) => emptyState(t, via, bridge));
  const byName = new Map(targets.map((t) => [t.node.name, t]));
  const each = <R>(fn: (s: PodNodeState, t: PodsTarget, i: number) => Promise<R>) => mapLimit(states, Math.max(opts.limit, 1), (s, i) => fn(s, targets[i], i));

  let cleaning: Promise<unknown> | undefined;
  const cleanup = () => (cleaning ??= each((s, t) => teardown(t, s, opts.cni)));
  // The phase running on the nodes: a signal waits for it (a setup half-way would leave things behind).
  let phase: Promise<unknown> = Promise.resolve();
  let interrupted = false;
  const phasesMs: Record<string, number> = {};
  const step = <R>(name: string, run: () => Promise<R>) => {
    if (interrupted) throw new Error('verify --pods interrupted');
    const t0 = Date.now();
    const p = run().finally(() => { phasesMs[name] = Date.now() - t0; });
    phase = p.catch(() => undefined);
    return p;
  };
  const onSignal = (sig: NodeJS.Signals) => {
    interrupted = true;
    process.stderr.write(`verify --pods: ${sig}: removing the throwaway pods…\n`);
    void phase.then(cleanup).finally(() => process.exit(sig === 'SIGINT' ? 130 : 143));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    await step('setup', () => each((s, t) => setup(t, s, inv, opts.cni)));
    const withPod = states.filter((s) => s.pod.ip);
    // Masquerade out: each pod pings the next node's public address (a ring over the nodes).
    if (states.length > 1) for (const [i, s] of states.entries()) s.masqTarget = states[(i + 1) % states.length].name;
    await step('arm', () => each(async (s, t) => {
      if (s.pod.ip) s.podTags = podTags(s, states, byName, hasFlannelDevice(inv.network.backend.type));
      const host = states.filter((a) => a.masqTarget === s.name && a.pod.ip).flatMap((a) => [`out-pub.${a.name}`, a.publicIp, `out-pod.${a.name}`, a.pod.ip!]);
      const pod = s.pod.ip ? [String(s.podTags.size), ...[...s.podTags].flatMap(([k, v]) => [k, v])] : ['-'];
      const r = await sh(t.conn, ARM, [...pod, ...host]);
      s.snap.before = snapshot(r.stdout);
    }));
    await step('pings', () => each(async (s, t) => {
      if (!s.pod.ip) return;
      const peers = withPod.filter((p) => p !== s).map((p) => p.pod.ip!);
      const [fromPod, [toPod]] = await Promise.all([pingAll(inPod(t.conn), [...peers, s.publicIp]), pingAll(t.conn, [s.pod.ip])]);
      s.fromPod = fromPod;
      s.hostToPod = toPod;
    }));
    // One round trip per node: the pod's counters and the "mid" snapshot, then the masquerade-out ping.
    await step('collect + masquerade ping', () => each(async (s, t) => {
      if (!s.pod.ip) return;
      const target = s.masqTarget ? byName.get(s.masqTarget)?.node.publicIp : undefined;
      const r = await sh(t.conn, COLLECT_THEN_PING, target ? [target] : []);
      const parts = sections(r.stdout);
      s.podCounts = countsByTag(parseCounted(parts.get('pod') ?? ''));
      s.snap.mid = snapshot(r.stdout);
      if (target) {
        [s.masqPing] = parts.has('ping')
          ? parsePingOutput(parts.get('ping') ?? '', [target])
          : [{ target, ok: false, error: `collect failed: ${(r.stderr || r.stdout).trim().split('\n').pop() ?? `exit ${r.code}`}` }];
      }
    }));
    await step('collect after', () => each(async (s, t) => {
      const r = await sh(t.conn, COLLECT, []);
      s.hostCounts = countsByTag(parseCounted(sections(r.stdout).get('host') ?? ''));
      s.snap.after = snapshot(r.stdout);
    }));
  } finally {
    const t0 = Date.now();
    await cleanup();
    phasesMs.teardown = Date.now() - t0;
    // Interrupted: the signal handler exits (130/143) once the same cleanup is done.
    if (interrupted) await new Promise(() => undefined);
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
  return { ...assessPods(states, { network: inv.network.cidr, masquerade: inv.iptables.masquerade, forwardAccept: inv.iptables.forwardAccept }, via, Date.now() - started), phasesMs };
}

export type { PingResult };
