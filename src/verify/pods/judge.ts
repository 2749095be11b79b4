/**
 * Pure parts of `verify --pods`: parsing counter output (`iptables -S -v`), finding the rules whose
 * counters moved during the pings (the culprit when traffic was NATed or dropped), and the types of
 * the `pods` section of verify's report.
 */
import type { Check } from '../checks.js';

export interface PodInfo {
  node: string;
  /** The pod's address (no length); null when the pod could not be created. */
  ip: string | null;
  /** How it was created: `cni` (CNI ADD with the installed conflist) or `runtime` (netns + veth). */
  via: 'cni' | 'runtime';
  bridge: string;
  bridgeCreated: boolean;
  /** Everything verify created on the node is gone again. */
  removed: boolean;
  error?: string;
}

export interface PodPair {
  from: string;
  to: string;
  ok: boolean;
  /** The receiving pod saw the sending pod's own address. */
  sourcePreserved: boolean;
  /** The source address the receiving pod saw (null when nothing arrived). */
  seenSource: string | null;
  error: string | null;
}

export interface PodsReport {
  via: 'cni' | 'runtime';
  pods: PodInfo[];
  pairs: PodPair[];
  /** Per node: host → pod, pod → node, masquerade out, cleanup. */
  checks: Check[];
  summary: { pairs: number; pairsOk: number; sourcePreserved: number; checks: number; checksOk: number };
  ok: boolean;
  durationMs: number;
  /** Wall time of each phase (setup, arm, pings, collect, masquerade ping, collect after, teardown), all nodes at once. */
  phasesMs?: Record<string, number>;
}

/** `-A CHAIN ... -c PKTS BYTES ...` → rule text without the counters, and the packet count. */
export interface CountedRule {
  table: string;
  chain: string;
  /** The rule as `iptables -S` prints it, counters removed. */
  rule: string;
  /** The rule's comment, if any. */
  comment?: string;
  target?: string;
  packets: number;
}

const COUNTER = /\s-c (\d+) (\d+)/;

/** Parse `iptables [-t table] -S [chain] -v`; policies (`-P`) count as rules with target = policy. */
export function parseCounted(text: string, table = 'filter'): CountedRule[] {
  const out: CountedRule[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    const m = /^-([AP]) (\S+)\s?(.*)$/.exec(line);
    if (!m) continue;
    const c = COUNTER.exec(line);
    const rule = line.replace(COUNTER, '');
    const comment = /--comment (?:"([^"]*)"|(\S+))/.exec(line);
    const target = m[1] === 'P' ? m[3].replace(COUNTER, '').trim().split(/\s+/)[0] : /-j (\S+)/.exec(line)?.[1];
    out.push({ table, chain: m[2], rule, comment: comment ? comment[1] ?? comment[2] : undefined, target, packets: c ? Number(c[1]) : 0 });
  }
  return out;
}

/** Packets counted per comment tag. */
export function countsByTag(rules: CountedRule[]): Map<string, number> {
  const m = new Map<string, number>();
  for (const r of rules) if (r.comment && r.chain !== 'INPUT') m.set(r.comment, (m.get(r.comment) ?? 0) + r.packets);
  return m;
}

/** Rules whose counters grew between two snapshots and whose target is one of `targets`. */
export function movedRules(before: CountedRule[], after: CountedRule[], targets: string[]): CountedRule[] {
  const old = new Map<string, number>();
  for (const r of before) old.set(`${r.table} ${r.rule}`, r.packets);
  return after.filter((r) => r.target && targets.includes(r.target) && r.packets > (old.get(`${r.table} ${r.rule}`) ?? 0));
}

/** Split script output into sections by `@@name` marker lines. */
export function sections(text: string): Map<string, string> {
  const m = new Map<string, string>();
  let name = '';
  for (const line of text.split('\n')) {
    const s = /^@@(\w+)$/.exec(line);
    if (s) {
      name = s[1];
      m.set(name, m.get(name) ?? '');
    } else if (name) m.set(name, `${m.get(name)}${line}\n`);
  }
  return m;
}

/** `@@word rest` lines from a script's output. */
export function markers(text: string): Array<{ key: string; value: string }> {
  return text.split('\n').flatMap((l) => {
    const m = /^@@(\S+)\s?(.*)$/.exec(l);
    return m ? [{ key: m[1], value: m[2].trim() }] : [];
  });
}

/** The pod address in a CNI result (0.3.x/0.4/1.0: ips[].address "10.244.1.2/24"). */
export function podIpFromCniResult(text: string): string | undefined {
  try {
    const r = JSON.parse(text) as { ips?: Array<{ address?: string; version?: string }> };
    const ip = r.ips?.find((x) => x.address && !x.address.includes(':'))?.address;
    return ip?.split('/')[0];
  } catch {
    return undefined;
  }
}

export const describeRule = (r: CountedRule) => `${r.table === 'filter' ? '' : `-t ${r.table} `}${r.rule}`;

export function summarise(pairs: PodPair[], checks: Check[]): PodsReport['summary'] {
  return {
    pairs: pairs.length,
    pairsOk: pairs.filter((p) => p.ok).length,
    sourcePreserved: pairs.filter((p) => p.sourcePreserved).length,
    checks: checks.length,
    checksOk: checks.filter((c) => c.ok).length,
  };
}
