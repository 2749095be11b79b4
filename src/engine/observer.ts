/**
 * The seam between converge() and how a run is shown: the engine emits these events, an Observer
 * renders them (output.ts: listr2 / plain / silent; collapsed-view.ts: large clusters on a terminal).
 */
import type { Report, StepResult, TargetReport } from './report.js';

export interface TargetInfo {
  name: string;
  steps: Array<{ id: string; title: string }>;
}

export interface Observer {
  /** Every target of the run, in order, before anything starts. */
  begin(targets: TargetInfo[], mode: Report['mode']): void;
  targetStart(target: string): void;
  /** open() finished; error set when it failed. */
  targetOpened(target: string, error?: string): void;
  stepStart(target: string, stepId: string): void;
  stepProgress(target: string, stepId: string, text: string): void;
  stepEnd(target: string, result: StepResult): void;
  targetEnd(report: TargetReport): void;
  end(report: Report): Promise<void>;
}

export interface OutputOptions {
  /** Print summaryLine() at the end (default true). */
  summary?: boolean;
  stream?: NodeJS.WritableStream & { isTTY?: boolean; rows?: number; columns?: number };
  /** Plain output: show progress of a step running longer than this, this often (default 2000 ms). */
  progressEveryMs?: number;
  /** Terminal size (default: the stream's rows / columns, live); decides full vs collapsed view. */
  rows?: number;
  columns?: number;
  /** Collapsed view: redraw at most this often after an event (default 100 ms; 0 = at once). */
  refreshMs?: number;
  /** Clock for elapsed times (default Date.now). */
  now?: () => number;
}
