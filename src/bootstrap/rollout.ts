/**
 * Rolling changes on a running cluster (issue 16 item 4). Nodes that already hold a lease and whose
 * plan restarts or changes something are converged in batches (`--batch-size N` or `P%`, default 1):
 * per batch the node steps (the new binary is swapped in by rename while the old flanneld runs, then
 * flanneld is restarted: stop → start → wait until it serves → wait for its lease), the peer-route
 * check, then verify of the batch against every peer. The first batch that fails stops the rollout;
 * later batches are not touched and the report says where it stopped. A rerun plans again and so
 * continues with the nodes that still differ. Each batch's downtime is the longest flanneld restart in
 * it (the service step's duration on a node whose flanneld was running).
 */
import { UsageError } from '../errors.js';
import type { Report, TargetReport } from '../engine/report.js';
import type { VerifyReport } from '../verify/verify.js';

export interface BatchResult {
  index: number;
  nodes: string[];
  ok: boolean;
  /** Longest flanneld restart (stop until serving again) in this batch, ms; 0 when nothing restarted. */
  downtimeMs: number;
  durationMs: number;
  /** Verify of the batch against all peers: pairs and checks that failed. */
  verifyFailures?: string[];
  error?: string;
}

export interface RolloutReport {
  batchSize: number;
  batches: BatchResult[];
  /** Set when a batch failed: the nodes not touched. */
  stopped?: { batch: number; nodes: string[]; untouched: string[]; reason: string };
}

/** "--batch-size 2" or "25%" of `total` nodes (at least 1). */
export function parseBatchSize(text: string | undefined, total: number): number {
  if (text === undefined || text === '') return 1;
  const m = /^(\d+)(%?)$/.exec(text.trim());
  const n = m ? Number(m[1]) : NaN;
  if (!m || n < 1 || (m[2] && n > 100)) throw new UsageError(`--batch-size ${text}: expected a number of nodes (≥ 1) or a percentage (1%–100%)`);
  return m[2] ? Math.max(1, Math.ceil((total * n) / 100)) : n;
}

export function batches<T>(items: T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

/** A node's flanneld downtime in a batch: the service step when it restarted a running flanneld. */
export function restartDowntime(t: TargetReport | undefined): number {
  const s = t?.steps.find((x) => x.id === 'service:flanneld' && x.status === 'changed' && x.change?.action === 'restart');
  return s?.durationMs ?? 0;
}

/** Targets of a check-mode report that would change something, and those of them that would restart flanneld. */
export function changingTargets(plan: Report): { changing: Set<string>; restarting: Set<string> } {
  const changing = plan.targets.filter((t) => t.steps.some((s) => s.status === 'planned'));
  const restarts = (t: TargetReport) => t.steps.some((s) => s.status === 'planned' && s.change?.action === 'restart' && /\brestart flanneld\b/.test(s.change.summary));
  return { changing: new Set(changing.map((t) => t.name)), restarting: new Set(changing.filter(restarts).map((t) => t.name)) };
}

/** "rollout stopped at batch 2 (node3): …": the one way a stopped rollout is named. */
export const rolloutStoppedText = (stopped: NonNullable<RolloutReport['stopped']>) => `rollout stopped at batch ${stopped.batch} (${stopped.nodes.join(', ')}): ${stopped.reason}`;

export function renderRollout(r: RolloutReport): string[] {
  const lines = r.batches.map(
    (b) =>
      `batch ${b.index}/${r.batches.length + (r.stopped ? r.stopped.untouched.length && Math.ceil(r.stopped.untouched.length / r.batchSize) : 0)} ${b.nodes.join(',')}: ${b.ok ? 'ok' : 'FAILED'}, flanneld downtime ${(b.downtimeMs / 1000).toFixed(1)} s, ${(b.durationMs / 1000).toFixed(1)} s in all`,
  );
  if (r.stopped) {
    lines.push(
      rolloutStoppedText(r.stopped),
      r.stopped.untouched.length ? `untouched: ${r.stopped.untouched.join(', ')}; fix the cause and run the command again to continue` : 'fix the cause and run the command again to continue',
    );
  }
  return lines;
}

/** A batch's verify failures, one line each. */
export function verifyProblems(v: VerifyReport): string[] {
  return [
    ...v.pairs.filter((p) => !p.ok).map((p) => `${p.from} → ${p.to}: ${p.error ?? 'failed'}`),
    ...v.checks.filter((c) => !c.ok).map((c) => `${c.node} ${c.name}: ${c.detail}`),
  ];
}

/** Nodes a stopped rollout never reached: failed, with why. */
export function untouchedReport(opts: Pick<Report, 'command' | 'mode'>, names: string[], why: string): Report {
  const targets: TargetReport[] = names.map((name) => ({ name, ok: false, steps: [], error: why, durationMs: 0 }));
  return { command: opts.command, mode: opts.mode, targets, summary: { targets: targets.length, changed: 0, unchanged: 0, failed: targets.length, restarts: 0 }, durationMs: 0 };
}
