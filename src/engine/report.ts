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
}
