/**
 * src/engine/ owns the Step → Change abstraction (step.ts), converge() and the Report (report.ts), bounded
 * parallelism (parallel.ts) and how runs are shown (output.ts: listr2 / plain / JSON; plan-output.ts).
 * It knows nothing of flannel: it may import connector/, kv/ and model/ types and errors.ts only.
 *
 * converge(targets, mode) → Report (DESIGN.md §3). Targets (hosts, or the cluster-wide "etcd"
 * target) run concurrently up to `concurrency`; the steps of one target run in order.
 *  - mode 'check': check() only; a Change is recorded as 'planned'.
 *  - mode 'apply': check() then apply() at once; recorded as 'changed'.
 *  - no Change → 'unchanged'.
 * Either way the step id goes into the target's `touched` set, so a later step (a service) can
 * restart only when something it depends on changed — and `plan` predicts that restart too.
 * Facts: when the target's connector caches (connector/facts.ts), every step's declared reads are
 * fetched in one round trip right after open(); the cache is dropped after every applied change
 * (later checks re-read) and when the target ends (whatever runs next reads afresh).
 * A failing step (or open()) fails its target and skips that target's remaining steps; other
 * targets carry on. Summary: changed = changed/planned steps, unchanged = unchanged steps,
 * failed = failed targets, restarts = changes with action 'restart'.
 *
 * Cluster-wide work first: convergePhases([[etcdTarget], nodeTargets], …) runs phases one after
 * the other in one display and one Report; when a phase has a failed target, later phases are
 * not started (their targets are reported failed with every step skipped).
 */
import { errorMessage, FlanctlError, NoAnswerError } from '../errors.js';
import { makeObserver, type Observer, type OutputMode } from './output.js';
import { interrupted } from './interrupt.js';
import { mapLimit } from './parallel.js';
import type { Report, StepResult, TargetReport } from './report.js';
import { stepReads, type Step, type StepContext } from './step.js';
import { isFactSource } from '../connector/facts.js';

export interface Target {
  name: string;
  steps: Step[];
  /** Connect / gather what the steps need; a rejection fails this target only. */
  open(): Promise<Omit<StepContext, 'touched' | 'progress'>>;
}

export interface ConvergeOptions {
  command: string;
  mode: 'apply' | 'check';
  /** Targets handled at once (default 10). */
  concurrency?: number;
  /** 'auto' = listr2 on a TTY, plain lines otherwise; 'silent' for --json; or your own Observer. */
  output?: OutputMode | Observer;
  /** Print the one-line summary at the end (default true; ignored for 'silent'). */
  summary?: boolean;
}

function messageOf(e: unknown): string {
  const msg = errorMessage(e);
  return e instanceof FlanctlError && e.hint ? `${msg}\nHint: ${e.hint}` : msg;
}

const skipped = (s: Step): StepResult => ({ id: s.id, title: s.title, status: 'skipped', durationMs: 0 });

function notRun(t: Target, why: string, obs: Observer): TargetReport {
  obs.targetStart(t.name);
  obs.targetOpened(t.name, why);
  const steps = t.steps.map(skipped);
  steps.forEach((r) => obs.stepEnd(t.name, r));
  const rep: TargetReport = { name: t.name, ok: false, steps, error: why, durationMs: 0 };
  obs.targetEnd(rep);
  return rep;
}

const stoppedBy = (sig: string) => `interrupted (${sig}): not started`;

async function runTarget(t: Target, mode: ConvergeOptions['mode'], obs: Observer): Promise<TargetReport> {
  const sig = interrupted();
  if (sig) return notRun(t, stoppedBy(sig), obs);
  const t0 = performance.now();
  obs.targetStart(t.name);
  const results: StepResult[] = [];
  const finish = (error?: string): TargetReport => {
    const rep: TargetReport = { name: t.name, ok: !error, steps: results, ...(error ? { error } : {}), durationMs: Math.round(performance.now() - t0) };
    obs.targetEnd(rep);
    return rep;
  };
  let base: Omit<StepContext, 'touched' | 'progress'>;
  try {
    base = await t.open();
  } catch (e) {
    const error = messageOf(e);
    obs.targetOpened(t.name, error);
    for (const s of t.steps) {
      results.push(skipped(s));
      obs.stepEnd(t.name, results.at(-1)!);
    }
    return finish(error);
  }
  obs.targetOpened(t.name);
  const facts = factsOf(base.conn);
  try {
    return finish(await runSteps(t, mode, obs, base, results, facts));
  } finally {
    facts?.forget();
  }
}

async function runSteps(t: Target, mode: ConvergeOptions['mode'], obs: Observer, base: Omit<StepContext, 'touched' | 'progress'>, results: StepResult[], facts: ReturnType<typeof factsOf>): Promise<string | undefined> {
  // A failed batch is no failure: every check then reads for itself (and meets the real problem).
  if (facts) await stepReads(t.steps, base).then((reads) => facts.prefetch(reads)).catch(() => {});
  const touched = new Set<string>();
  let failure: string | undefined;
  // After a change that may have altered anything (no Change.affects), the reads of the steps still
  // to come are fetched again in one batch before the next check, instead of one round trip each.
  let refetch = false;
  for (const [i, step] of t.steps.entries()) {
    const sig = interrupted();
    if (sig && !failure) failure = `interrupted (${sig}) before "${step.title}"`;
    if (failure) {
      results.push(skipped(step));
      obs.stepEnd(t.name, results.at(-1)!);
      continue;
    }
    obs.stepStart(t.name, step.id);
    const s0 = performance.now();
    if (refetch && facts) await stepReads(t.steps.slice(i), base).then((reads) => facts.prefetch(reads)).catch(() => {});
    refetch = false;
    const ctx: StepContext = { ...base, touched, progress: (text) => obs.stepProgress(t.name, step.id, text) };
    let result: StepResult;
    try {
      const change = await step.check(ctx);
      if (!change) {
        result = { id: step.id, title: step.title, status: 'unchanged', durationMs: 0 };
      } else {
        const summary = { action: change.action, summary: change.summary, ...(change.diff ? { diff: change.diff } : {}) };
        if (mode === 'apply') {
          // Nothing learnt before a change that it may alter is served after it (also if apply fails).
          const drop = () => (change.affects ? facts?.forgetMentioning(change.affects) : facts?.forget());
          drop();
          try {
            await change.apply();
          } finally {
            drop();
            refetch = !change.affects;
          }
        }
        touched.add(step.id);
        result = { id: step.id, title: step.title, status: mode === 'apply' ? 'changed' : 'planned', change: summary, durationMs: 0 };
      }
    } catch (e) {
      const error = e instanceof NoAnswerError ? e.during(step.title) : messageOf(e);
      failure = e instanceof NoAnswerError ? error : `${step.title}: ${error}`;
      result = { id: step.id, title: step.title, status: 'failed', error, durationMs: 0 };
    }
    result.durationMs = Math.round(performance.now() - s0);
    results.push(result);
    obs.stepEnd(t.name, result);
  }
  return failure;
}

function factsOf(conn: StepContext['conn']) {
  return isFactSource(conn) ? conn : undefined;
}

function summarize(targets: TargetReport[]): Report['summary'] {
  const steps = targets.flatMap((t) => t.steps);
  const changes = steps.filter((s) => s.status === 'changed' || s.status === 'planned');
  return {
    targets: targets.length,
    changed: changes.length,
    unchanged: steps.filter((s) => s.status === 'unchanged').length,
    failed: targets.filter((t) => !t.ok).length,
    restarts: changes.filter((s) => s.change?.action === 'restart').length,
  };
}

function checkTargets(targets: Target[]): void {
  const names = new Set<string>();
  for (const t of targets) {
    if (names.has(t.name)) throw new Error(`converge: two targets named "${t.name}"`);
    names.add(t.name);
    const ids = new Set<string>();
    for (const s of t.steps) {
      if (ids.has(s.id)) throw new Error(`converge: target "${t.name}" has two steps with id "${s.id}"`);
      ids.add(s.id);
    }
  }
}

export async function convergePhases(phases: Target[][], opts: ConvergeOptions): Promise<Report> {
  const all = phases.flat();
  checkTargets(all);
  const t0 = performance.now();
  const obs = typeof opts.output === 'object' ? opts.output : makeObserver(opts.output ?? 'auto', { summary: opts.summary });
  obs.begin(all.map((t) => ({ name: t.name, steps: t.steps.map((s) => ({ id: s.id, title: s.title })) })), opts.mode);
  const reports: TargetReport[] = [];
  let blockedBy: string[] = [];
  for (const phase of phases) {
    const sig = interrupted();
    if (sig) {
      reports.push(...phase.map((t) => notRun(t, stoppedBy(sig), obs)));
      continue;
    }
    if (blockedBy.length) {
      const why = `not started: ${blockedBy.join(', ')} failed first`;
      reports.push(...phase.map((t) => notRun(t, why, obs)));
      continue;
    }
    const done = await mapLimit(phase, Math.max(1, opts.concurrency ?? 64), (t) => runTarget(t, opts.mode, obs));
    const phaseReports = done.map((d, i) => (d.ok ? d.value : notRun(phase[i], messageOf(d.error), obs)));
    reports.push(...phaseReports);
    blockedBy = phaseReports.filter((r) => !r.ok).map((r) => r.name);
  }
  const report: Report = {
    command: opts.command,
    mode: opts.mode,
    targets: reports,
    summary: summarize(reports),
    durationMs: Math.round(performance.now() - t0),
    ...(interrupted() ? { interrupted: interrupted() } : {}),
  };
  await obs.end(report);
  return report;
}

export function converge(targets: Target[], opts: ConvergeOptions): Promise<Report> {
  return convergePhases([targets], opts);
}
