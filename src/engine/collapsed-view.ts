/**
 * Large clusters on a terminal (issue #15): when listr2's full view (a task per target with a
 * subtask per step) would take more rows than the terminal has, output.ts shows this view instead:
 * one line per target — step k/N, the step running (and its progress), time since it started —
 * and a summary bar (done / failed / running / waiting, changes so far, elapsed):
 *
 *   ❯ node2  step 9/17 flanneld binary (12 MB of 40 MB) · 3.2 s
 *   ✖ node4  FAILED at 5/17 flanneld service: no answer for 15 s · 2.0 s
 *   ❯ node9  step 5/17 sysctl.d ip_forward · 1.1 s
 *   … 28 more: 2 waiting, 26 done
 *   done 26/31 · failed 1 · running 2 · waiting 2 · 143 changes · 12.3 s
 *
 * While it runs the frame never exceeds the screen: when even one line per target does not fit,
 * failed and running targets are shown first and the rest are counted in a "… more" line. At the
 * end the last frame is printed with every target (one line each) and stays in the scrollback.
 * Details (diffs, full errors) stay in the plain output, --json and the command's FAILED lines.
 */
import type { Observer, OutputOptions, TargetInfo } from './observer.js';
import type { Report, StepResult } from './report.js';

type Status = 'waiting' | 'connecting' | 'running' | 'done' | 'failed';

interface Row {
  name: string;
  steps: TargetInfo['steps'];
  status: Status;
  /** Index of the step running or last run; -1 before the first. */
  step: number;
  changes: number;
  startedAt?: number;
  endedAt?: number;
  error?: string;
  /** The running step's latest progress ("12 MB of 40 MB"). */
  progress?: string;
}

export interface ViewState {
  rows: Row[];
  mode: Report['mode'];
  startedAt: number;
}

/** Rows listr2's full view takes when every target runs at once: title, connect, each step, an output line. */
export function fullViewLines(targets: TargetInfo[]): number {
  return targets.reduce((n, t) => n + t.steps.length + 3, 0);
}

/** Whether the full view would not fit `rows` (the cursor keeps the last row); never without a known size. */
export const collapses = (targets: TargetInfo[], rows: number | undefined) => !!rows && fullViewLines(targets) > rows - 1;

const secs = (ms: number) => `${(Math.max(0, ms) / 1000).toFixed(1)} s`;
const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`;
const ICON: Record<Status, string> = { waiting: '◼', connecting: '❯', running: '❯', done: '✔', failed: '✖' };
/** Which rows a too-small screen keeps first. */
const PRIORITY: Record<Status, number> = { failed: 0, running: 1, connecting: 1, waiting: 2, done: 3 };

function rowLine(r: Row, width: number, mode: Report['mode'], now: number): string {
  const n = r.steps.length;
  const at = r.step >= 0 ? `${r.step + 1}/${n} ${r.steps[r.step].title}` : 'connect';
  const took = secs((r.endedAt ?? now) - (r.startedAt ?? now));
  const title = r.step >= 0 ? r.steps[r.step].title : '';
  const first = (r.error ?? '').split('\n')[0];
  const error = title && first.startsWith(`${title}: `) ? first.slice(title.length + 2) : first;
  const what: Record<Status, () => string> = {
    waiting: () => 'waiting',
    connecting: () => `connect · ${took}`,
    running: () => `step ${at}${r.progress ? ` (${r.progress})` : ''} · ${took}`,
    done: () => `${n}/${n} · ${plural(r.changes, mode === 'check' ? 'planned change' : 'change')} · ${took}`,
    failed: () => `FAILED${r.step >= 0 ? ` at ${at}` : ''}: ${error} · ${took}`,
  };
  return `${ICON[r.status]} ${r.name.padEnd(width)}  ${what[r.status]()}`;
}

function barLine(s: ViewState, now: number): string {
  const count = (st: Status[]) => s.rows.filter((r) => st.includes(r.status)).length;
  const changes = s.rows.reduce((n, r) => n + r.changes, 0);
  const parts = [
    `done ${count(['done'])}/${s.rows.length}`,
    `failed ${count(['failed'])}`,
    `running ${count(['running', 'connecting'])}`,
    `waiting ${count(['waiting'])}`,
    plural(changes, s.mode === 'check' ? 'planned change' : 'change'),
    secs(now - s.startedAt),
  ];
  return parts.join(' · ');
}

const cut = (line: string, columns?: number) => (columns && line.length > columns - 1 ? `${line.slice(0, Math.max(1, columns - 2))}…` : line);

/**
 * The lines of one frame. With `screenRows`, at most screenRows - 1 lines (the cursor keeps the
 * last row): failed and running targets first, the others counted on a "… more" line.
 */
export function frameLines(s: ViewState, now: number, screen: { rows?: number; columns?: number } = {}): string[] {
  const width = Math.max(0, ...s.rows.map((r) => r.name.length));
  let shown = s.rows;
  let more: string | undefined;
  const budget = screen.rows === undefined ? Infinity : Math.max(0, screen.rows - 2);
  if (s.rows.length > budget) {
    const keep = new Set(
      s.rows.map((r, i) => ({ r, i })).sort((a, b) => PRIORITY[a.r.status] - PRIORITY[b.r.status] || a.i - b.i).slice(0, Math.max(0, budget - 1)).map((x) => x.r),
    );
    shown = s.rows.filter((r) => keep.has(r));
    const hidden = s.rows.filter((r) => !keep.has(r));
    const by = (['failed', 'running', 'waiting', 'done'] as const)
      .map((st) => [st, hidden.filter((r) => (st === 'running' ? r.status === 'running' || r.status === 'connecting' : r.status === st)).length] as const)
      .filter(([, n]) => n > 0)
      .map(([st, n]) => `${n} ${st}`);
    more = `… ${hidden.length} more: ${by.join(', ')}`;
  }
  const lines = [...shown.map((r) => rowLine(r, width, s.mode, now)), ...(more && budget >= 1 ? [more] : []), barLine(s, now)];
  return lines.map((l) => cut(l, screen.columns));
}

const UP_AND_CLEAR = '\x1b[1A\x1b[2K';
const HIDE_CURSOR = '\x1b[?25l';
const SHOW_CURSOR = '\x1b[?25h';

/**
 * The live collapsed view on `opts.stream` (default stdout): redrawn in place after events (at most
 * every refreshMs) and every second for the elapsed times. Other writes to the same stream (and to
 * stderr when both are the terminal) erase the frame, pass through, and the frame is drawn below them.
 */
export function collapsedObserver(opts: OutputOptions = {}): Observer {
  const out = opts.stream ?? process.stdout;
  const now = opts.now ?? Date.now;
  const refreshMs = opts.refreshMs ?? 100;
  const screen = () => ({ rows: opts.rows ?? out.rows, columns: opts.columns ?? out.columns });
  const state: ViewState = { rows: [], mode: 'apply', startedAt: now() };
  const byName = new Map<string, Row>();
  const intercepted = out === process.stdout && process.stderr.isTTY ? [out, process.stderr] : [out];
  const originals = intercepted.map((s) => s.write);
  const raw = (text: string) => originals[0].call(out, text);
  let drawn = 0;
  let live = false;
  let pending: NodeJS.Timeout | undefined;
  let ticker: NodeJS.Timeout | undefined;

  const erase = () => UP_AND_CLEAR.repeat(drawn) + (drawn ? '\x1b[G' : '');
  const draw = () => {
    if (!live) return;
    const lines = frameLines(state, now(), screen());
    raw(erase() + lines.join('\n') + '\n');
    drawn = lines.length;
  };
  const changed = () => {
    if (refreshMs <= 0) return draw();
    pending ??= setTimeout(() => { pending = undefined; draw(); }, refreshMs).unref();
  };
  const restoreCursor = () => originals[0].call(out, SHOW_CURSOR);
  const row = (name: string) => byName.get(name);

  return {
    begin(infos, mode) {
      state.mode = mode;
      state.startedAt = now();
      state.rows = infos.map((t) => ({ name: t.name, steps: t.steps, status: 'waiting', step: -1, changes: 0 }));
      for (const r of state.rows) byName.set(r.name, r);
      intercepted.forEach((s, i) => {
        const orig = originals[i];
        s.write = function (this: unknown, ...args: unknown[]) {
          if (!live) return (orig as (...a: unknown[]) => boolean).apply(s, args);
          raw(erase());
          drawn = 0;
          const ok = (orig as (...a: unknown[]) => boolean).apply(s, args);
          draw();
          return ok;
        } as typeof s.write;
      });
      live = true;
      raw(HIDE_CURSOR);
      process.once('exit', restoreCursor);
      ticker = setInterval(draw, 1000).unref();
      draw();
    },
    targetStart(name) {
      const r = row(name);
      if (r && r.status === 'waiting') Object.assign(r, { status: 'connecting', startedAt: now() });
      changed();
    },
    targetOpened() {},
    stepStart(name, id) {
      const r = row(name);
      if (r) Object.assign(r, { status: 'running', step: r.steps.findIndex((s) => s.id === id), progress: undefined });
      changed();
    },
    stepProgress(name, _id, text) {
      const r = row(name);
      if (r) r.progress = text.split('\n')[0];
      changed();
    },
    stepEnd(name, res: StepResult) {
      const r = row(name);
      if (r) r.progress = undefined;
      if (r && (res.status === 'changed' || res.status === 'planned')) r.changes++;
      changed();
    },
    targetEnd(t) {
      const r = row(t.name);
      if (r) Object.assign(r, { status: t.ok ? 'done' : 'failed', error: t.error, endedAt: now(), startedAt: r.startedAt ?? now() });
      changed();
    },
    async end() {
      clearTimeout(pending);
      clearInterval(ticker);
      const final = frameLines(state, now(), { columns: screen().columns });
      raw(erase() + final.join('\n') + '\n' + SHOW_CURSOR);
      live = false;
      drawn = 0;
      intercepted.forEach((s, i) => (s.write = originals[i]));
      process.removeListener('exit', restoreCursor);
    },
  };
}
