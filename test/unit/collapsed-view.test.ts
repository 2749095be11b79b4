/**
 * Large clusters on a terminal (issue #15): with more targets than the screen holds, the live view
 * is one line per target plus a summary bar; a fake TTY stream (rows / columns injected) and a fake
 * clock make every frame deterministic. screenOf() applies the escapes as a terminal would.
 */
import { describe, expect, it } from 'vitest';
import { fakeConnector } from '../../src/connector/fake.js';
import { converge, type Target } from '../../src/engine/engine.js';
import { collapsedObserver, collapses, frameLines, fullViewLines, type ViewState } from '../../src/engine/collapsed-view.js';
import { terminalObserver, type TargetInfo } from '../../src/engine/output.js';
import type { Report, StepResult, TargetReport } from '../../src/engine/report.js';
import type { Step } from '../../src/engine/step.js';
import type { Inventory } from '../../src/model/inventory.js';
import { screenOf } from '../helpers/screen.js';

/** A TTY-like stream of `rows` × `columns` that keeps what was written (synchronously). */
function fakeTty(rows: number, columns: number) {
  let text = '';
  const stream = { isTTY: true, rows, columns, write: (chunk: string | Uint8Array) => ((text += chunk.toString()), true) } as unknown as NodeJS.WriteStream;
  return { stream, screen: () => screenOf(text), text: () => text };
}

const STEPS = Array.from({ length: 17 }, (_, i) => ({ id: `s${i + 1}`, title: `step ${['one', 'two', 'three', 'four', 'five'][i] ?? i + 1}` }));
const names = (n: number) => Array.from({ length: n }, (_, i) => `node${String(i + 1).padStart(2, '0')}`);
const infos = (n: number): TargetInfo[] => names(n).map((name) => ({ name, steps: STEPS }));
const result = (id: string, status: StepResult['status'], error?: string): StepResult => ({ id, title: STEPS.find((s) => s.id === id)!.title, status, durationMs: 1, ...(error ? { error } : {}), ...(status === 'changed' ? { change: { action: 'update', summary: 'x' } } : {}) });

describe('collapsed terminal view', () => {
  it('decides from the rows the full listr2 view would take', () => {
    // title + connect + 17 steps + an output line per target.
    expect(fullViewLines(infos(3))).toBe(60);
    expect(collapses(infos(3), 80)).toBe(false);
    expect(collapses(infos(3), 60)).toBe(true);
    expect(collapses(infos(3), undefined)).toBe(false);
  });

  it('30 nodes on 10 rows: the live frame fits the screen, failed and running first, then one line per node at the end', async () => {
    const tty = fakeTty(10, 100);
    let clock = 1_000;
    const obs = terminalObserver({ stream: tty.stream, refreshMs: 0, now: () => clock });
    obs.begin(infos(30), 'apply');
    for (const n of ['node01', 'node02', 'node03', 'node04']) {
      obs.targetStart(n);
      obs.targetOpened(n);
    }
    for (const id of ['s1', 's2', 's3', 's4']) obs.stepEnd('node01', result(id, id === 's2' ? 'changed' : 'unchanged'));
    obs.stepStart('node01', 's5');
    obs.stepStart('node02', 's1');
    obs.stepStart('node03', 's5');
    clock += 1_500;
    obs.stepEnd('node03', result('s5', 'failed', 'flanneld: exited 1\nsecond line of the error'));
    obs.targetEnd({ name: 'node03', ok: false, steps: [], error: 'step five: flanneld: exited 1\nsecond line of the error', durationMs: 1500 });
    clock += 1_500;
    obs.stepProgress('node02', 's1', '12 MB of 40 MB');
    obs.targetEnd({ name: 'node30', ok: true, steps: [], durationMs: 0 }); // a finished one, not shown when space is short

    const live = tty.screen();
    expect(live.length).toBeLessThanOrEqual(9);
    expect(live).toEqual([
      '❯ node01  step 5/17 step five · 3.0 s',
      '❯ node02  step 1/17 step one (12 MB of 40 MB) · 3.0 s',
      '✖ node03  FAILED at 5/17 step five: flanneld: exited 1 · 1.5 s',
      '❯ node04  connect · 3.0 s',
      expect.stringMatching(/^◼ node05  waiting$/),
      expect.stringMatching(/^◼ node06  waiting$/),
      expect.stringMatching(/^◼ node07  waiting$/),
      '… 23 more: 22 waiting, 1 done',
      'done 1/30 · failed 1 · running 3 · waiting 25 · 1 change · 3.0 s',
    ]);

    // Everyone finishes: the last frame keeps every node, one line each, then the summary line.
    clock += 1_000;
    const targets: TargetReport[] = names(30).map((name) => ({ name, ok: name !== 'node03', steps: [], durationMs: 10, ...(name === 'node03' ? { error: 'step five: flanneld: exited 1' } : {}) }));
    for (const t of targets) if (t.name !== 'node03' && t.name !== 'node30') obs.targetEnd(t);
    const report: Report = { command: 'bootstrap', mode: 'apply', targets, summary: { targets: 30, changed: 1, unchanged: 0, failed: 1, restarts: 0 }, durationMs: 4000 };
    await obs.end(report);
    const final = tty.screen();
    expect(final.filter((l) => /^[✔✖] node\d\d  /.test(l))).toHaveLength(30);
    expect(final.filter((l) => /^. node03/.test(l))).toEqual(['✖ node03  FAILED at 5/17 step five: flanneld: exited 1 · 1.5 s']);
    expect(final).toContain('✔ node01  17/17 · 1 change · 4.0 s');
    expect(final.at(-2)).toBe('done 29/30 · failed 1 · running 0 · waiting 0 · 1 change · 4.0 s');
    expect(final.at(-1)).toBe('bootstrap: 30 hosts, 1 change, 1 failed (node03) in 4.0 s');
    expect(final.some((l) => l.includes('more:'))).toBe(false);
    expect(tty.text()).toMatch(/\x1b\[\?25h/); // the cursor is shown again
  });

  it('another write during the live view lands above the frame, which is drawn again below it', async () => {
    const tty = fakeTty(10, 80);
    const obs = collapsedObserver({ stream: tty.stream, refreshMs: 0, now: () => 0 });
    obs.begin(infos(12), 'check');
    obs.targetStart('node02');
    tty.stream.write('note: something happened\n');
    obs.stepStart('node02', 's2');
    const screen = tty.screen();
    expect(screen[0]).toBe('note: something happened');
    expect(screen.slice(1)).toHaveLength(9);
    expect(screen.filter((l) => l.startsWith('done '))).toEqual(['done 0/12 · failed 0 · running 1 · waiting 11 · 0 planned changes · 0.0 s']);
    expect(screen).toContain('❯ node02  step 2/17 step two · 0.0 s');
    await obs.end({ command: 'plan', mode: 'check', targets: [], summary: { targets: 0, changed: 0, unchanged: 0, failed: 0, restarts: 0 }, durationMs: 0 });
    tty.stream.write('after\n');
    expect(tty.screen().at(-1)).toBe('after'); // write is ours again: no frame redrawn after it
  });

  it('lines are cut to the terminal width, so they never wrap', () => {
    const s: ViewState = { mode: 'apply', startedAt: 0, rows: [{ name: 'n1', steps: STEPS, status: 'failed', step: 2, changes: 0, startedAt: 0, endedAt: 0, error: `x${'y'.repeat(200)}` }] };
    const lines = frameLines(s, 0, { rows: 24, columns: 40 });
    expect(lines.every((l) => l.length <= 39)).toBe(true);
    expect(lines[0]).toMatch(/^✖ n1  FAILED at 3\/17 step three: xyyy.*…$/);
  });

  it('drives the real engine: a failing node among 30 is shown FAILED with its step, the others done', async () => {
    const tty = fakeTty(10, 120);
    const inventory = { nodes: [] } as unknown as Inventory;
    const step = (id: string, fail = false): Step => ({ id, title: `do ${id}`, async check() { if (fail) throw new Error('it broke'); return undefined; } });
    const targets: Target[] = names(30).map((name) => {
      const conn = fakeConnector({ name });
      return { name, steps: [step('a'), step('b', name === 'node17'), step('c')], open: async () => ({ inventory, conn }) };
    });
    // 30 × (3 steps + 3) = 180 rows for the full view: collapsed.
    const report = await converge(targets, { command: 'bootstrap', mode: 'apply', output: terminalObserver({ stream: tty.stream, refreshMs: 0 }) });
    expect(report.summary.failed).toBe(1);
    const final = tty.screen();
    expect(final.filter((l) => /^✔ node\d\d  3\/3 · 0 changes · /.test(l))).toHaveLength(29);
    expect(final).toContainEqual(expect.stringMatching(/^✖ node17  FAILED at 2\/3 do b: it broke · \d+\.\d s$/));
    expect(final.at(-1)).toMatch(/^bootstrap: 30 hosts, 0 changes, 1 failed \(node17\) in /);
  });
});
