/**
 * The `pods` section of verify's output: human text, failure names for the summary line, and JUnit
 * test cases (one per pod pair, one per pod check).
 */
import type { PodsReport } from './judge.js';

export function renderPods(p: PodsReport): string {
  const s = p.summary;
  const how = p.via === 'cni' ? 'through the CNI plugins (ADD/DEL with the installed conflist)' : `netns + veth on ${p.pods[0]?.bridge ?? 'the bridge'}, as a container runtime would`;
  const out = [
    `Pods (${how}): ${s.pairsOk}/${s.pairs} pod pairs ok, source preserved on ${s.sourcePreserved}/${s.pairs}, ${s.checksOk}/${s.checks} pod checks ok in ${(p.durationMs / 1000).toFixed(1)} s`,
  ];
  const ips = p.pods.map((x) => `${x.node} ${x.ip ?? '—'}`).join(', ');
  out.push(`  pods: ${ips}`);
  if (p.phasesMs) out.push(`  time per phase (all nodes at once): ${Object.entries(p.phasesMs).map(([k, ms]) => `${k} ${(ms / 1000).toFixed(2)} s`).join(' · ')}`);
  for (const pair of p.pairs.filter((x) => !x.ok)) out.push(`  ✗ pod ${pair.from} → pod ${pair.to}: ${pair.error ?? 'failed'}`);
  for (const c of p.checks.filter((x) => !x.ok)) out.push(`  ✗ ${c.node}: ${c.name}: ${c.detail}`);
  for (const c of p.checks.filter((x) => x.ok && x.skipped)) out.push(`  - ${c.node}: ${c.name}: ${c.detail}`);
  return out.join('\n');
}

/** "pod node1 → node2", "node1: pod masquerade out". */
export function podFailureNames(p: PodsReport | undefined): string[] {
  if (!p) return [];
  return [...p.pairs.filter((x) => !x.ok).map((x) => `pod ${x.from} → ${x.to}`), ...p.checks.filter((c) => !c.ok).map((c) => `${c.node}: ${c.name}`)];
}

export interface PodCase {
  classname: string;
  name: string;
  seconds: number;
  failure?: string;
  skipped?: string;
}

export function podJunitCases(p: PodsReport | undefined): PodCase[] {
  if (!p) return [];
  return [
    ...p.pairs.map((x) => ({
      classname: `flanctl.verify.pods.${x.from}`,
      name: `pod ${x.from} -> pod ${x.to} (source preserved)`,
      seconds: 0,
      failure: x.ok ? undefined : x.error ?? 'failed',
    })),
    ...p.checks.map((c) => ({
      classname: `flanctl.verify.pods.${c.node}`,
      name: `${c.node}: ${c.name}`,
      seconds: 0,
      failure: c.ok ? undefined : c.detail,
      skipped: c.ok && c.skipped ? c.detail : undefined,
    })),
  ];
}
