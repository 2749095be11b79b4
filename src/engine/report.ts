/**
 * The Report every host-changing command returns (printed as-is with --json).
 */
import type { ChangeAction } from './step.js';

export type StepStatus = 'unchanged' | 'changed' | 'planned' | 'failed' | 'skipped';

export interface StepResult {
  id: string;
  title: string;
  status: StepStatus;
  change?: { action: ChangeAction; summary: string; diff?: { before: string; after: string } };
  error?: string;
  durationMs: number;
}

export interface TargetReport {
  /** Node name, or "etcd" for the cluster-wide target. */
  name: string;
  ok: boolean;
  steps: StepResult[];
  error?: string;
  durationMs: number;
}

export interface Report {
  command: string;
  mode: 'apply' | 'check';
  targets: TargetReport[];
  summary: { targets: number; changed: number; unchanged: number; failed: number; restarts: number };
  durationMs: number;
  /** Set when SIGINT/SIGTERM stopped the run: steps after it were not started (status 'skipped'). */
  interrupted?: string;
}

/** "interrupted: 5 changes applied, 12 steps not run on 3 targets; …" for an interrupted Report. */
export function interruptedLine(r: Report, rerun: string): string {
  const steps = r.targets.flatMap((t) => t.steps);
  const skipped = steps.filter((s) => s.status === 'skipped').length;
  const hit = r.targets.filter((t) => t.steps.some((s) => s.status === 'skipped')).length;
  return `interrupted: ${r.summary.changed} change${r.summary.changed === 1 ? '' : 's'} applied, ${skipped} step${skipped === 1 ? '' : 's'} not run on ${hit} target${hit === 1 ? '' : 's'}; nothing was left half-written. Run \`${rerun}\` to finish.`;
}
