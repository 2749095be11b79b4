/**
 * Judging `verify --pods` from what the nodes reported (pure): which sources each pod's counters
 * saw, which pings answered, and which NAT / FORWARD rules' counters moved meanwhile.
 */
import { fail, pass, type Check } from '../checks.js';
import type { PingResult } from '../probes.js';
import { countsByTag, describeRule, movedRules, summarise, type CountedRule, type PodInfo, type PodPair, type PodsReport } from './judge.js';

/** One node as the pod check sees it. */
export interface PodNodeState {
  name: string;
  publicIp: string;
  pod: PodInfo;
  /** Flannel device address (.0) and bridge address (.1) of the node's lease, for naming sources. */
  deviceIp?: string;
  bridgeIp?: string;
  /** Counting tags armed in the pod's chain, tag → source address. */
  podTags: Map<string, string>;
  /** Counts after the pings (pod chain, and the node's host chain for the masquerade-out check). */
  podCounts: Map<string, number>;
  hostCounts: Map<string, number>;
  /** nat table + filter FORWARD with counters: before, between the two ping rounds, after. */
  snap: { before: CountedRule[]; mid: CountedRule[]; after: CountedRule[] };
  /** Pings from the pod (peer pods, own node, masquerade target) and from the host to the pod. */
  fromPod: PingResult[];
  masqPing?: PingResult;
  hostToPod?: PingResult;
  /** The node whose public address the pod pings for the masquerade-out check. */
  masqTarget?: string;
  leftovers: string[];
}

export interface AssessOptions {
  network: string;
  masquerade: 'tightened' | 'flannel' | 'none';
  forwardAccept: boolean;
}

const NAT_TARGETS = ['MASQUERADE', 'SNAT'];
const DROP_TARGETS = ['DROP', 'REJECT'];

/** Human name of a source address as seen by a pod. */
function nameSource(tag: string, addr: string, nodes: Map<string, PodNodeState>): string {
  const [kind, node] = tag.split('.', 2);
  const what: Record<string, string> = { pod: 'pod', pub: 'public address', dev: 'flannel device address', br: 'bridge address' };
  if (node && nodes.has(node) && what[kind]) return `${addr} (${node}'s ${what[kind]})`;
  return tag === 'other' ? 'an unexpected address' : addr;
}

function forwardCulprits(from: PodNodeState, to: PodNodeState | undefined, opts: AssessOptions, round: 'mid' | 'after' = 'mid'): string | undefined {
  const found = [from, to].filter((n): n is PodNodeState => !!n).flatMap((n) =>
    movedRules(round === 'mid' ? n.snap.before : n.snap.mid, round === 'mid' ? n.snap.mid : n.snap.after, DROP_TARGETS)
      .filter((r) => r.table === 'filter' && r.chain === 'FORWARD')
      .map((r) => `${n.name}: ${r.rule.startsWith('-P') ? `FORWARD policy ${r.target} (${r.rule})` : `FORWARD rule ${describeRule(r)}`}`),
  );
  if (!found.length) return undefined;
  const hint = opts.forwardAccept ? '' : '; iptables.forwardAccept is false, so nothing accepts pod traffic in FORWARD';
  return `dropped in FORWARD — ${[...new Set(found)].join('; ')}${hint}`;
}

function natCulprits(n: PodNodeState, opts: AssessOptions, round: 'mid' | 'after'): string[] {
  const [a, b] = round === 'mid' ? [n.snap.before, n.snap.mid] : [n.snap.mid, n.snap.after];
  return movedRules(a, b, NAT_TARGETS)
    .filter((r) => r.table === 'nat' && !r.rule.includes(`! -d ${opts.network}`))
    .map((r) => `${n.name}: ${describeRule(r)}`);
}

function judgePair(a: PodNodeState, b: PodNodeState, nodes: Map<string, PodNodeState>, opts: AssessOptions): PodPair {
  const base = { from: a.name, to: b.name };
  if (!a.pod.ip || !b.pod.ip) {
    const why = !a.pod.ip ? `no pod on ${a.name}` : `no pod on ${b.name}`;
    return { ...base, ok: false, sourcePreserved: false, seenSource: null, error: why };
  }
  const ping = a.fromPod.find((p) => p.target === b.pod.ip);
  const own = b.podCounts.get(`pod.${a.name}`) ?? 0;
  const seen = [...b.podTags.entries()].filter(([tag]) => tag.endsWith(`.${a.name}`) && tag !== `pod.${a.name}` && (b.podCounts.get(tag) ?? 0) > 0);
  const others = b.podCounts.get('other') ?? 0;
  const arrived = own > 0 || seen.length > 0;
  let error: string | null = null;
  if (!ping?.ok) {
    const fwd = forwardCulprits(a, b, opts);
    error = fwd ?? `${ping?.error ?? 'not pinged'}${arrived ? ' (the request arrived: the reply was lost)' : ''}`;
  }
  const sourcePreserved = own > 0 && !seen.length;
  let seenSource: string | null = own > 0 ? a.pod.ip : null;
  if (!sourcePreserved && arrived) {
    const [tag, addr] = seen[0] ?? ['other', '?'];
    seenSource = tag === 'other' ? null : addr;
    // SNAT of a's packet happens on a; b's own moved rules (its pod's traffic out) are only a fallback.
    const fromA = natCulprits(a, opts, 'mid');
    const culprits = fromA.length ? fromA : natCulprits(b, opts, 'mid');
    const by = culprits.length ? `; SNAT by ${[...new Set(culprits)].join('; ')}` : '';
    const src = `source not preserved: ${b.name}'s pod saw ${a.name}'s pod as ${nameSource(tag, addr, nodes)}, not ${a.pod.ip}${by}`;
    error = error ? `${error}; ${src}` : src;
  } else if (!arrived && !error) {
    error = `source not observed: ${b.name}'s pod counted no request from any of ${a.name}'s addresses${others ? ` (${others} from unexpected addresses)` : ''}`;
  }
  return { ...base, ok: !!ping?.ok && sourcePreserved, sourcePreserved, seenSource, error };
}

function masqCheck(n: PodNodeState, nodes: Map<string, PodNodeState>, opts: AssessOptions): Check {
  const name = 'pod masquerade out';
  if (opts.masquerade === 'none') return { ...pass(n.name, name, 'not checked: iptables.masquerade is none (nothing masquerades pod traffic)'), skipped: true };
  if (!n.pod.ip) return fail(n.name, name, `no pod on ${n.name}`);
  const t = n.masqTarget ? nodes.get(n.masqTarget) : undefined;
  if (!t) return { ...pass(n.name, name, 'not checked: needs a second node whose public address lies outside the network'), skipped: true };
  const fromPub = t.hostCounts.get(`out-pub.${n.name}`) ?? 0;
  const fromPod = t.hostCounts.get(`out-pod.${n.name}`) ?? 0;
  const dest = `${t.name}'s public address ${t.publicIp}`;
  if (fromPub > 0 && fromPod === 0) {
    return n.masqPing?.ok
      ? pass(n.name, name, `pod → ${dest} arrived from ${n.publicIp} (masqueraded)`)
      : fail(n.name, name, `pod → ${dest} arrived from ${n.publicIp} but no reply: ${n.masqPing?.error ?? 'not pinged'}`);
  }
  if (fromPod > 0) return fail(n.name, name, `pod → ${dest} arrived from the pod's own ${n.pod.ip}: not masqueraded (iptables.masquerade: ${opts.masquerade})`);
  const nat = natCulprits(n, opts, 'after');
  const fwd = forwardCulprits(n, undefined, opts, 'after');
  const why = fwd ?? (n.masqPing?.ok ? '' : n.masqPing?.error ?? 'not pinged');
  return fail(n.name, name, `pod → ${dest}: nothing arrived from ${n.publicIp}${why ? ` (${why})` : ''}${nat.length ? `; NAT rules used: ${nat.join('; ')}` : ''}`);
}

function nodeChecks(n: PodNodeState, nodes: Map<string, PodNodeState>, opts: AssessOptions): Check[] {
  if (!n.pod.ip) {
    return [fail(n.name, 'pod', n.pod.error ?? 'no pod'), cleanupCheck(n)];
  }
  const toNode = n.fromPod.find((p) => p.target === n.publicIp);
  return [
    n.hostToPod?.ok ? pass(n.name, 'host → pod', `${n.pod.ip} answers`) : fail(n.name, 'host → pod', `${n.pod.ip}: ${n.hostToPod?.error ?? 'not pinged'}`),
    toNode?.ok ? pass(n.name, 'pod → node', `${n.publicIp} answers`) : fail(n.name, 'pod → node', `${n.publicIp}: ${toNode?.error ?? 'not pinged'}`),
    masqCheck(n, nodes, opts),
    cleanupCheck(n),
  ];
}

function cleanupCheck(n: PodNodeState): Check {
  return n.leftovers.length
    ? fail(n.name, 'pod cleanup', `left behind: ${n.leftovers.join(', ')}`)
    : pass(n.name, 'pod cleanup', `removed everything verify created${n.pod.bridgeCreated ? ` (incl. bridge ${n.pod.bridge})` : ''}`);
}

export function assessPods(states: PodNodeState[], opts: AssessOptions, via: 'cni' | 'runtime', durationMs: number): PodsReport {
  const nodes = new Map(states.map((s) => [s.name, s]));
  const pairs = states.flatMap((a) => states.filter((b) => b !== a).map((b) => judgePair(a, b, nodes, opts)));
  const checks = states.flatMap((s) => nodeChecks(s, nodes, opts));
  const summary = summarise(pairs, checks);
  return {
    via,
    pods: states.map((s) => s.pod),
    pairs,
    checks,
    summary,
    ok: summary.pairsOk === summary.pairs && summary.checksOk === summary.checks,
    durationMs,
  };
}

export { countsByTag };
