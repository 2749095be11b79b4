/**
 * How converge() shows progress (DESIGN.md §3 "Output"): listr2 with a task per target and a
 * subtask per step on a TTY (collapsed-view.ts when that would not fit the screen), plain lines
 * otherwise, nothing in --json. The engine only emits
 * events; an Observer renders them. summaryLine() is the one-line result.
 */
import type { ListrTaskWrapper } from 'listr2';
import { collapsedObserver, collapses } from './collapsed-view.js';
import type { Observer, OutputOptions } from './observer.js';
import type { Report, StepResult, TargetReport } from './report.js';

export type { Observer, OutputOptions, TargetInfo } from './observer.js';

/** "title: summary", or "title (why)" when the summary is a parenthesised reason ("flanneld (stale peer state: node2)"). */
export const changeText = (title: string, summary: string) => (summary.startsWith('(') ? `${title} ${summary}` : `${title}: ${summary}`);

export type OutputMode = 'auto' | 'plain' | 'silent' | 'listr';

export const CLUSTER_TARGET = 'etcd';
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Task = ListrTaskWrapper<any, any, any>;

export const PROGRESS_EVERY_MS = 2000;

const secs = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`;

/** "bootstrap: 3 hosts, 24 changes, 3 restarts, 0 failed in 7.4 s" (plan: "… 5 planned changes …"). */
export function summaryLine(report: Report): string {
  const s = report.summary;
  const changes = report.mode === 'check' ? plural(s.changed, 'planned change') : plural(s.changed, 'change');
  const restarts = s.restarts ? `, ${plural(s.restarts, report.mode === 'check' ? 'planned restart' : 'restart')}` : '';
  const failedNames = report.targets.filter((t) => !t.ok).map((t) => t.name);
  const failed = `${s.failed} failed${failedNames.length ? ` (${failedNames.join(', ')})` : ''}`;
  // The cluster-wide target is named "etcd" (report.ts); everything else is a host.
  const hosts = report.targets.filter((t) => t.name !== CLUSTER_TARGET).length;
  const where = `${plural(hosts, 'host')}${hosts < report.targets.length ? ` + ${CLUSTER_TARGET}` : ''}`;
  return `${report.command}: ${where}, ${changes}${restarts}, ${failed} in ${secs(report.durationMs)}`;
}

function stepLine(r: StepResult): string {
  switch (r.status) {
    case 'changed': return `changed   ${changeText(r.title, r.change?.summary ?? '')} (${secs(r.durationMs)})`;
    case 'planned': return `planned   ${changeText(r.title, r.change?.summary ?? '')}`;
    case 'unchanged': return `ok        ${r.title}`;
    case 'failed': return `FAILED    ${r.title}: ${r.error ?? ''}`;
    case 'skipped': return `skipped   ${r.title}`;
  }
}

export function silentObserver(): Observer {
  return {
    begin() {}, targetStart() {}, targetOpened() {}, stepStart() {}, stepProgress() {}, stepEnd() {}, targetEnd() {},
    async end() {},
  };
}

/** One line per finished step, prefixed by the target; progress only for steps running > 2 s, every 2 s. */
export function plainObserver(opts: OutputOptions = {}): Observer {
  const out = opts.stream ?? process.stdout;
  const write = (target: string, text: string) => out.write(`[${target}] ${text.replace(/\n/g, `\n[${target}]     `)}\n`);
  const lastProgress = new Map<string, number>();
  const key = (target: string, stepId: string) => `${target}\0${stepId}`;
  const every = opts.progressEveryMs ?? PROGRESS_EVERY_MS;
  return {
    begin() {},
    targetStart() {},
    targetOpened(target, error) {
      if (error) write(target, `FAILED    ${error}`);
    },
    stepStart(target, stepId) {
      lastProgress.set(key(target, stepId), Date.now());
    },
    stepProgress(target, stepId, text) {
      const k = key(target, stepId);
      const now = Date.now();
      if (now - (lastProgress.get(k) ?? 0) < every) return;
      lastProgress.set(k, now);
      write(target, `...       ${text}`);
    },
    stepEnd(target, r) {
      lastProgress.delete(key(target, r.id));
      if (r.status !== 'skipped') write(target, stepLine(r));
    },
    targetEnd(t) {
      const changed = t.steps.filter((s) => s.status === 'changed' || s.status === 'planned').length;
      const skippedN = t.steps.filter((s) => s.status === 'skipped').length;
      write(t.name, t.ok ? `done      ${plural(changed, 'change')} in ${secs(t.durationMs)}` : `stopped   ${plural(skippedN, 'step')} skipped`);
    },
    async end(report) {
      if (opts.summary !== false) out.write(`${summaryLine(report)}\n`);
    },
  };
}

interface Deferred<T> {
  promise: Promise<T>;
  resolve(v: T): void;
  done: boolean;
}
function deferred<T>(): Deferred<T> {
  let resolve!: (v: T) => void;
  const d: Deferred<T> = { promise: new Promise<T>((r) => (resolve = r)), resolve: (v) => { if (!d.done) { d.done = true; resolve(v); } }, done: false };
  return d;
}

/**
 * listr2 on a TTY: the engine drives, listr2 only mirrors. Each target task waits for its start
 * event, then shows a "connect" subtask and one subtask per step that settle as the engine reports.
 */
export function listrObserver(opts: OutputOptions = {}): Observer {
  type StepState = { started: Deferred<void>; ended: Deferred<StepResult>; task?: Task };
  const targets = new Map<string, { started: Deferred<void>; opened: Deferred<string | undefined>; ended: Deferred<TargetReport>; steps: Map<string, StepState>; task?: Task }>();
  const finalTitle = (t: TargetReport) => {
    const n = t.steps.filter((x) => x.status === 'changed' || x.status === 'planned').length;
    return t.ok ? `${t.name}: ${plural(n, mode === 'check' ? 'planned change' : 'change')} in ${secs(t.durationMs)}` : `${t.name}: FAILED`;
  };
  let running: Promise<unknown> = Promise.resolve();
  let mode: Report['mode'] = 'apply';

  return {
    begin(infos, m) {
      mode = m;
      for (const t of infos) {
        targets.set(t.name, {
          started: deferred(), opened: deferred(), ended: deferred(),
          steps: new Map(t.steps.map((s) => [s.id, { started: deferred<void>(), ended: deferred<StepResult>() }])),
        });
      }
      // listr2 loads only for this renderer (a TTY); plain and silent output never need it.
      running = import('listr2').then(({ Listr }) => new Listr(
        infos.map((info) => ({
          title: `${info.name} (waiting)`,
          task: async (_: unknown, task: Task) => {
            const st = targets.get(info.name)!;
            st.task = task;
            await st.started.promise;
            task.title = st.ended.done ? task.title : info.name;
            const subtasks = [
              {
                title: 'connect',
                task: async () => {
                  const err = await st.opened.promise;
                  if (err) throw new Error(err);
                },
              },
              ...info.steps.map((s) => ({
                title: s.title,
                task: async (_c: unknown, sub: Task) => {
                  const ss = st.steps.get(s.id)!;
                  ss.task = sub;
                  await ss.started.promise;
                  const r = await ss.ended.promise;
                  if (r.status === 'failed') throw new Error(r.error ?? 'failed');
                  if (r.status === 'skipped') return sub.skip(`${s.title} (skipped)`);
                  if (r.change) sub.title = `${changeText(s.title, r.change.summary)}${mode === 'check' ? ' (planned)' : ''}`;
                },
              })),
            ];
            void st.ended.promise.then((t) => (task.title = finalTitle(t)));
            return task.newListr(subtasks, { concurrent: false, exitOnError: false });
          },
        })),
        {
          concurrent: true,
          exitOnError: false,
          collectErrors: false,
          registerSignalListeners: false,
          renderer: 'default',
          rendererOptions: { collapseSubtasks: true, collapseErrors: false, showErrorMessage: true },
        },
      ).run()).catch(() => {});
    },
    targetStart(name) {
      targets.get(name)?.started.resolve();
    },
    targetOpened(name, error) {
      targets.get(name)?.opened.resolve(error);
    },
    stepStart(name, id) {
      targets.get(name)?.steps.get(id)?.started.resolve();
    },
    stepProgress(name, id, text) {
      const t = targets.get(name)?.steps.get(id)?.task;
      if (t) t.output = text;
    },
    stepEnd(name, r) {
      const s = targets.get(name)?.steps.get(r.id);
      s?.started.resolve();
      s?.ended.resolve(r);
    },
    targetEnd(t) {
      const st = targets.get(t.name);
      st?.started.resolve();
      st?.opened.resolve(t.ok ? undefined : t.error);
      st?.ended.resolve(t);
    },
    async end(report) {
      await running;
      if (opts.summary !== false) (opts.stream ?? process.stdout).write(`${summaryLine(report)}\n`);
    },
  };
}

/**
 * On a terminal: listr2's full view when it fits the screen (fullViewLines() ≤ rows - 1), else the
 * collapsed one-line-per-target view. Decided once, at begin(), when the targets are known.
 */
export function terminalObserver(opts: OutputOptions = {}): Observer {
  let chosen: Observer = silentObserver();
  let collapsed = false;
  return {
    begin(targets, mode) {
      collapsed = collapses(targets, opts.rows ?? (opts.stream ?? process.stdout).rows);
      chosen = collapsed ? collapsedObserver(opts) : listrObserver(opts);
      chosen.begin(targets, mode);
    },
    targetStart: (...a) => chosen.targetStart(...a),
    targetOpened: (...a) => chosen.targetOpened(...a),
    stepStart: (...a) => chosen.stepStart(...a),
    stepProgress: (...a) => chosen.stepProgress(...a),
    stepEnd: (...a) => chosen.stepEnd(...a),
    targetEnd: (...a) => chosen.targetEnd(...a),
    async end(report) {
      await chosen.end(report);
      if (collapsed && opts.summary !== false) (opts.stream ?? process.stdout).write(`${summaryLine(report)}\n`);
    },
  };
}

export function makeObserver(mode: OutputMode, opts: OutputOptions = {}): Observer {
  if (mode === 'silent') return silentObserver();
  const stream = opts.stream ?? process.stdout;
  const tty = !!stream.isTTY && process.env.TERM !== 'dumb' && process.env.CI !== 'true';
  if (mode === 'listr' || (mode === 'auto' && tty)) return terminalObserver(opts);
  return plainObserver(opts);
}
