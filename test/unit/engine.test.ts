import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { fakeConnector, type FakeConnector } from '../../src/connector/fake.js';
import { run } from '../../src/connector/connector.js';
import { converge, convergePhases, type Target } from '../../src/engine/engine.js';
import { ExecError } from '../../src/errors.js';
import type { Inventory } from '../../src/model/inventory.js';
import { plainObserver, summaryLine } from '../../src/engine/output.js';
import type { Change, Step } from '../../src/engine/step.js';

const inventory = { nodes: [] } as unknown as Inventory;

/** A file step on the fake connector: the kind of step the real steps are. */
function fileStep(id: string, path: string, content: string, log?: string[]): Step {
  return {
    id,
    title: `write ${path}`,
    async check(ctx) {
      log?.push(`${ctx.conn!.name}:${id}`);
      const cur = await ctx.conn!.read(path);
      if (cur?.toString() === content) return undefined;
      return {
        action: cur ? 'update' : 'create',
        summary: `${cur ? 'update' : 'create'} ${path}`,
        diff: { before: cur?.toString() ?? '', after: content },
        apply: () => ctx.conn!.write(path, content, 0o644),
      } satisfies Change;
    },
  };
}

/** Restarts the service when one of `dependsOn` was touched earlier in the run. */
function serviceStep(dependsOn: string[]): Step {
  return {
    id: 'service',
    title: 'flanneld running',
    async check(ctx) {
      if (!dependsOn.some((d) => ctx.touched.has(d))) return undefined;
      return { action: 'restart', summary: 'restart flanneld', apply: () => run(ctx.conn!, ['systemctl', 'restart', 'flanneld']).then(() => {}) };
    },
  };
}

function target(conn: FakeConnector, steps: Step[]): Target {
  return { name: conn.name, steps, open: async () => ({ inventory, conn }) };
}

const node = (name: string) => fakeConnector({ name }).on(['systemctl', 'restart'], {});

describe('converge', () => {
  it('bounds how many targets run at once (measured with in-flight counting)', async () => {
    for (const concurrency of [1, 3]) {
      let inFlight = 0;
      let max = 0;
      const slow: Step = {
        id: 'slow',
        title: 'slow',
        async check() {
          inFlight++;
          max = Math.max(max, inFlight);
          await new Promise((r) => setTimeout(r, 5));
          inFlight--;
          return undefined;
        },
      };
      const targets = Array.from({ length: 7 }, (_, i) => target(node(`n${i}`), [slow]));
      const report = await converge(targets, { command: 't', mode: 'apply', concurrency, output: 'silent' });
      expect(max).toBe(concurrency);
      expect(report.summary).toMatchObject({ targets: 7, unchanged: 7, failed: 0 });
    }
  });

  it('runs the steps of one target in order', async () => {
    const log: string[] = [];
    const c = node('n1');
    await converge([target(c, [fileStep('a', '/a', 'A', log), fileStep('b', '/b', 'B', log), fileStep('c', '/c', 'C', log)])], {
      command: 't', mode: 'apply', output: 'silent',
    });
    expect(log).toEqual(['n1:a', 'n1:b', 'n1:c']);
    expect(c.writes().map((w) => w.path)).toEqual(['/a', '/b', '/c']);
  });

  it('applies, then reports nothing on the second run (idempotence)', async () => {
    const c = node('n1');
    const steps = [fileStep('unit', '/etc/systemd/system/flanneld.service', 'v1'), serviceStep(['unit'])];
    const first = await converge([target(c, steps)], { command: 'bootstrap', mode: 'apply', output: 'silent' });
    expect(first.targets[0].steps.map((s) => s.status)).toEqual(['changed', 'changed']);
    expect(first.summary).toMatchObject({ changed: 2, restarts: 1, failed: 0 });
    const second = await converge([target(c, steps)], { command: 'bootstrap', mode: 'apply', output: 'silent' });
    expect(second.targets[0].steps.map((s) => s.status)).toEqual(['unchanged', 'unchanged']);
    expect(second.summary).toMatchObject({ changed: 0, unchanged: 2, restarts: 0 });
    expect(c.execs().filter((a) => a[1] === 'restart')).toHaveLength(1);
  });

  it('restarts only when a file the service depends on changed (touched set)', async () => {
    const c = node('n1');
    c.files.set('/unit', { content: Buffer.from('v1'), mode: 0o644 });
    const steps = (unit: string, other: string) => [fileStep('unit', '/unit', unit), fileStep('other', '/other', other), serviceStep(['unit'])];
    const r1 = await converge([target(c, steps('v1', 'x'))], { command: 't', mode: 'apply', output: 'silent' });
    expect(r1.targets[0].steps.map((s) => s.status)).toEqual(['unchanged', 'changed', 'unchanged']);
    expect(c.execs()).toHaveLength(0);
    const r2 = await converge([target(c, steps('v2', 'x'))], { command: 't', mode: 'apply', output: 'silent' });
    expect(r2.targets[0].steps.map((s) => s.status)).toEqual(['changed', 'unchanged', 'changed']);
    expect(r2.targets[0].steps[2].change?.action).toBe('restart');
    expect(c.execs()).toEqual([['systemctl', 'restart', 'flanneld']]);
  });

  it('check mode applies nothing, plans the changes and predicts the restart', async () => {
    const c = node('n1');
    c.files.set('/unit', { content: Buffer.from('old'), mode: 0o644 });
    const report = await converge([target(c, [fileStep('unit', '/unit', 'new'), serviceStep(['unit'])])], {
      command: 'plan', mode: 'check', output: 'silent',
    });
    expect(report.mode).toBe('check');
    expect(report.targets[0].steps.map((s) => s.status)).toEqual(['planned', 'planned']);
    expect(report.targets[0].steps[0].change).toEqual({ action: 'update', summary: 'update /unit', diff: { before: 'old', after: 'new' } });
    expect(report.summary).toMatchObject({ changed: 2, restarts: 1 });
    expect(c.writes()).toHaveLength(0);
    expect(c.execs()).toHaveLength(0);
    expect(c.text('/unit')).toBe('old');
  });

  it('a failing step fails its target, skips the rest of it, and the other targets carry on', async () => {
    const [a, b, c] = ['n1', 'n2', 'n3'].map(node);
    const boom: Step = {
      id: 'boom',
      title: 'load module',
      check: async (ctx) => ({ action: 'create', summary: 'modprobe vxlan', apply: () => run(ctx.conn!, ['modprobe', 'vxlan']).then(() => {}) }),
    };
    b.on(['modprobe'], { code: 1, stderr: 'modprobe: FATAL: Module vxlan not found' });
    a.on(['modprobe'], {});
    c.on(['modprobe'], {});
    const steps = [fileStep('a', '/a', 'A'), boom, fileStep('z', '/z', 'Z')];
    const report = await converge([a, b, c].map((x) => target(x, steps)), { command: 'bootstrap', mode: 'apply', concurrency: 3, output: 'silent' });
    const [ra, rb, rc] = report.targets;
    expect([ra.ok, rb.ok, rc.ok]).toEqual([true, false, true]);
    expect(rb.steps.map((s) => s.status)).toEqual(['changed', 'failed', 'skipped']);
    expect(rb.steps[1].error).toContain('Module vxlan not found');
    expect(rb.error).toContain('load module');
    expect(b.files.has('/z')).toBe(false);
    expect(a.files.has('/z') && c.files.has('/z')).toBe(true);
    expect(report.summary).toMatchObject({ targets: 3, failed: 1, changed: 7 });
    expect(summaryLine(report)).toMatch(/^bootstrap: 3 hosts, 7 changes, 1 failed \(n2\) in \d+\.\d s$/);
  });

  it('plain output names the failed step once and says the rest was skipped', async () => {
    const out = new PassThrough();
    let text = '';
    out.on('data', (b) => (text += b));
    const c = node('n1').on(['false'], { code: 1, stderr: 'it broke' });
    const failing: Step = { id: 'f', title: 'do it', check: async (ctx) => ({ action: 'update', summary: 'x', apply: () => run(ctx.conn!, ['false']).then(() => {}) }) };
    await converge([target(c, [failing, fileStep('a', '/a', 'A'), fileStep('b', '/b', 'B')])], { command: 'bootstrap', mode: 'apply', output: plainObserver({ stream: out }) });
    expect(text.match(/FAILED/g)).toHaveLength(1);
    expect(text).toContain('[n1] FAILED    do it: n1: `false` exited 1:');
    expect(text).toContain('it broke');
    expect(text).toContain('[n1] stopped   2 steps skipped');
    expect(text).toMatch(/1 failed \(n1\)/);
  });

  it('an open() failure fails that target with every step skipped', async () => {
    const ok = node('n1');
    const bad: Target = { name: 'n2', steps: [fileStep('a', '/a', 'A')], open: async () => { throw new ExecError('n2', ['ssh'], 255, 'no route to host'); } };
    const report = await converge([target(ok, [fileStep('a', '/a', 'A')]), bad], { command: 't', mode: 'apply', output: 'silent' });
    expect(report.targets[1]).toMatchObject({ name: 'n2', ok: false, steps: [{ id: 'a', status: 'skipped' }] });
    expect(report.targets[1].error).toContain('no route to host');
    expect(report.targets[0].ok).toBe(true);
  });

  it('runs phases in order and does not start later phases after a failure', async () => {
    const order: string[] = [];
    const etcd = (fail: boolean): Target => ({
      name: 'etcd',
      steps: [{ id: 'config', title: 'network config', check: async () => { order.push('etcd'); if (fail) throw new Error('etcd unreachable'); return undefined; } }],
      open: async () => ({ inventory }),
    });
    const nodeTarget = (name: string): Target => ({
      name, steps: [], open: async () => { order.push(name); return { inventory }; },
    });
    const ok = await convergePhases([[etcd(false)], [nodeTarget('n1'), nodeTarget('n2')]], { command: 'bootstrap', mode: 'apply', output: 'silent' });
    expect(order).toEqual(['etcd', 'n1', 'n2']);
    expect(ok.summary.failed).toBe(0);
    expect(summaryLine(ok)).toMatch(/^bootstrap: 2 hosts \+ etcd, 0 changes, 0 failed/);
    order.length = 0;
    const bad = await convergePhases([[etcd(true)], [nodeTarget('n1')]], { command: 'bootstrap', mode: 'apply', output: 'silent' });
    expect(order).toEqual(['etcd']);
    expect(bad.targets.map((t) => [t.name, t.ok])).toEqual([['etcd', false], ['n1', false]]);
    expect(bad.targets[1].error).toContain('etcd failed');
  });

  it('passes progress from long steps to the output, and plain output prints lines and the summary', async () => {
    const out = new PassThrough();
    let text = '';
    out.on('data', (b) => (text += b));
    const long: Step = { id: 'upload', title: 'upload flanneld', check: async (ctx) => { ctx.progress?.('12 MB of 40 MB'); return undefined; } };
    const report = await converge([target(node('n2'), [long, fileStep('a', '/a', 'A')])], { command: 'bootstrap', mode: 'apply', output: plainObserver({ stream: out, progressEveryMs: 0 }) });
    expect(report.summary.changed).toBe(1);
    expect(text).toContain('[n2] ...       12 MB of 40 MB');
    expect(text).toContain('[n2] changed   write /a: create /a');
    expect(text).toMatch(/bootstrap: 1 host, 1 change, 0 failed in \d+\.\d s\n$/);
  });

  it('silent output writes nothing to stdout', async () => {
    const writes: unknown[] = [];
    const orig = process.stdout.write.bind(process.stdout);
    process.stdout.write = ((chunk: unknown) => (writes.push(chunk), true)) as typeof process.stdout.write;
    try {
      await converge([target(node('n1'), [fileStep('a', '/a', 'A')])], { command: 't', mode: 'apply', output: 'silent' });
    } finally {
      process.stdout.write = orig;
    }
    expect(writes).toEqual([]);
  });

  it('rejects duplicate target names and step ids (programming errors)', async () => {
    const c = node('n1');
    await expect(converge([target(c, []), target(c, [])], { command: 't', mode: 'check', output: 'silent' })).rejects.toThrow(/two targets/);
    await expect(converge([target(c, [fileStep('a', '/a', 'A'), fileStep('a', '/b', 'B')])], { command: 't', mode: 'check', output: 'silent' })).rejects.toThrow(/two steps/);
  });
});
