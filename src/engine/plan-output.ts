/**
 * Terraform-style rendering of a check-mode Report (flanctl plan):
 *   node1
 *     + /etc/flannel/ca.pem (1.3 kB, 0644)
 *     ~ /etc/supervisor/conf.d/flanneld.conf (1.4 kB)
 *         - command=… -healthz-port=2401 …
 *         + command=… -healthz-port=2402 …
 *     ↻ restart flanneld (supervisord; changed: service:definition)
 *   Plan: 0 to create, 1 to change, 1 to restart on 1 node.
 */
import type { ChangeAction } from './step.js';
import type { Report, StepResult } from './report.js';
import { CLUSTER_TARGET, changeText } from './output.js';

export const ACTION_SYMBOL: Record<ChangeAction, string> = { create: '+', update: '~', delete: '-', restart: '↻' };

export interface PlanCounts {
  create: number;
  change: number;
  destroy: number;
  restart: number;
  /** Node targets (not etcd) with at least one change. */
  nodes: number;
}

const isChange = (s: StepResult) => s.status === 'planned' || s.status === 'changed';

export function planCounts(report: Report): PlanCounts {
  const c: PlanCounts = { create: 0, change: 0, destroy: 0, restart: 0, nodes: 0 };
  for (const t of report.targets) {
    const changes = t.steps.filter(isChange);
    if (changes.length && t.name !== CLUSTER_TARGET) c.nodes++;
    for (const s of changes) {
      const a = s.change?.action;
      if (a === 'create') c.create++;
      else if (a === 'update') c.change++;
      else if (a === 'delete') c.destroy++;
      else if (a === 'restart') c.restart++;
    }
  }
  return c;
}

export function planSummaryLine(report: Report): string {
  const c = planCounts(report);
  if (c.create + c.change + c.destroy + c.restart === 0) return 'No changes. The cluster matches the inventory.';
  const destroy = c.destroy ? `, ${c.destroy} to remove` : '';
  const where = c.nodes ? ` on ${c.nodes} node${c.nodes === 1 ? '' : 's'}` : ' in etcd';
  return `Plan: ${c.create} to create, ${c.change} to change${destroy}, ${c.restart} to restart${where}.`;
}

function diffLines(diff: { before: string; after: string }, indent: string): string[] {
  const mark = (prefix: string, text: string) =>
    text === '' ? [] : text.split('\n').map((l) => (l === '…' || l.startsWith('… (') ? `${indent}  ${l}` : `${indent}${prefix} ${l}`));
  return [...mark('-', diff.before), ...mark('+', diff.after)];
}

/** Every target with changes or errors; unchanged targets are not listed. */
export function renderPlan(report: Report, opts: { diffs?: boolean } = {}): string {
  const out: string[] = [];
  for (const t of report.targets) {
    const changes = t.steps.filter(isChange);
    const failed = t.steps.filter((s) => s.status === 'failed');
    if (!changes.length && t.ok) continue;
    out.push(t.name);
    for (const s of changes) {
      out.push(`  ${ACTION_SYMBOL[s.change!.action]} ${changeText(s.title, s.change!.summary)}`);
      if (opts.diffs !== false && s.change?.diff) out.push(...diffLines(s.change.diff, '      '));
    }
    for (const s of failed) out.push(`  ! ${s.title}: ${(s.error ?? '').split('\n').join('\n    ')}`);
    if (!t.ok && !failed.length && t.error) out.push(`  ! ${t.error.split('\n').join('\n    ')}`);
  }
  if (out.length) out.push('');
  out.push(planSummaryLine(report));
  const failedNames = report.targets.filter((t) => !t.ok).map((t) => t.name);
  if (failedNames.length) out.push(`Could not plan ${failedNames.join(', ')} (see the errors above).`);
  return out.join('\n');
}

/** "node2: flanneld service: <error>" for every failed step (or failed target without one). */
export function failureLines(report: Report): string[] {
  return report.targets.flatMap((t) => {
    if (t.ok) return [];
    const failed = t.steps.filter((s) => s.status === 'failed');
    return failed.length ? failed.map((s) => `${t.name}: ${s.title}: ${s.error ?? ''}`) : [`${t.name}: ${t.error ?? 'failed'}`];
  });
}
