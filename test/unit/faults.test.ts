/**
 * Issue 10 on fakes: the cluster lock (memory Kv), the engine under SIGINT/SIGTERM (no new step
 * starts, the Report says what ran), and the sweep of temp files interrupted writes leave.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { fakeConnector } from '../../src/connector/fake.js';
import { converge, type Target } from '../../src/engine/engine.js';
import { resetInterrupts, simulateInterrupt, signalExitCode } from '../../src/engine/interrupt.js';
import { interruptedLine } from '../../src/engine/report.js';
import type { Step } from '../../src/engine/step.js';
import { memoryKv } from '../../src/kv/memory.js';
import { acquireClusterLock, forceUnlock, lockKey, lockNotice, parseDuration, LockError } from '../../src/kv/lock.js';
import { litterStep, managedDirs } from '../../src/steps/litter.js';
import { inventoryYaml, testInventory } from './bootstrap-fakes.js';

afterEach(() => resetInterrupts());

describe('cluster lock', () => {
  it('a second holder fails at once naming the first (command, user@host, pid, since); release frees it', async () => {
    const kv = memoryKv();
    const a = await acquireClusterLock(kv, '/coreos.com/network', 'bootstrap');
    expect(kv.ttls.get(lockKey('/coreos.com/network'))).toBe(30);
    const err = await acquireClusterLock(kv, '/coreos.com/network', 'reset').catch((e) => e);
    expect(err).toBeInstanceOf(LockError);
    expect(err.message).toMatch(new RegExp(`^another flanctl \\(bootstrap by .+@.+, pid ${process.pid}, since \\d\\d:\\d\\d:\\d\\d UTC\\) holds the cluster lock$`));
    expect(err.hint).toMatch(/--wait-lock.*unlock --force/);
    expect(await lockNotice(kv, '/coreos.com/network')).toMatch(/a change is in progress \(bootstrap by/);
    await a.release();
    expect(kv.data.has(lockKey('/coreos.com/network'))).toBe(false);
    expect(await lockNotice(kv, '/coreos.com/network')).toBeUndefined();
    const b = await acquireClusterLock(kv, '/coreos.com/network', 'reset');
    await b.release();
  });

  it('--wait-lock waits for the holder to release, then takes the lock', async () => {
    const kv = memoryKv();
    const a = await acquireClusterLock(kv, '/p', 'bootstrap');
    const lines: string[] = [];
    let slept = 0;
    const b = await acquireClusterLock(kv, '/p', 'reset', {
      waitMs: 60_000,
      log: (l) => lines.push(l),
      sleep: async () => {
        if (++slept === 3) await a.release();
      },
    });
    expect(slept).toBe(3);
    expect(lines).toEqual([expect.stringMatching(/holds the cluster lock; waiting up to 60 s \(--wait-lock\)/)]);
    expect(JSON.parse(kv.data.get(lockKey('/p'))!)).toMatchObject({ command: 'reset', pid: process.pid });
    await b.release();
  });

  it('a lock left by a dead process on this machine is taken over; unlock --force removes any', async () => {
    const { hostname } = await import('node:os');
    const kv = memoryKv({ [lockKey('/p')]: JSON.stringify({ command: 'bootstrap', user: 'root', host: hostname(), pid: 2 ** 22 + 12345, since: new Date().toISOString() }) });
    const notes: string[] = [];
    const l = await acquireClusterLock(kv, '/p', 'bootstrap', { log: (x) => notes.push(x) });
    expect(notes[0]).toMatch(/taking over .* that process no longer exists/);
    await l.release();
    kv.data.set(lockKey('/p'), JSON.stringify({ command: 'reset', user: 'ops', host: 'elsewhere', pid: 1, since: '2026-01-01T12:01:05Z' }));
    await expect(acquireClusterLock(kv, '/p', 'bootstrap')).rejects.toThrow('another flanctl (reset by ops@elsewhere, pid 1, since 12:01:05 UTC) holds the cluster lock');
    expect(await forceUnlock(kv, '/p')).toMatchObject({ user: 'ops', host: 'elsewhere' });
    expect(kv.data.has(lockKey('/p'))).toBe(false);
  });

  it('parses --wait-lock durations', () => {
    expect([parseDuration('90'), parseDuration('90s'), parseDuration('5m'), parseDuration('1h'), parseDuration('soon')]).toEqual([90_000, 90_000, 300_000, 3_600_000, undefined]);
  });
});

describe('engine under SIGINT / SIGTERM', () => {
  const step = (id: string, onApply?: () => void): Step => ({
    id,
    title: id,
    check: async () => ({ action: 'create', summary: id, apply: async () => onApply?.() }),
  });

  it('the step in flight finishes, no later step or target starts, the report says so', async () => {
    const applied: string[] = [];
    const targets: Target[] = [
      { name: 'node1', steps: [step('a', () => applied.push('node1:a')), step('b', () => (applied.push('node1:b'), simulateInterrupt('SIGINT'))), step('c', () => applied.push('node1:c'))], open: async () => ({ inventory: undefined as never }) },
      { name: 'node2', steps: [step('a', () => applied.push('node2:a'))], open: async () => ({ inventory: undefined as never }) },
    ];
    const r = await converge(targets, { command: 'bootstrap', mode: 'apply', concurrency: 1, output: 'silent' });
    expect(applied).toEqual(['node1:a', 'node1:b']);
    expect(r.interrupted).toBe('SIGINT');
    expect(r.targets[0].steps.map((s) => s.status)).toEqual(['changed', 'changed', 'skipped']);
    expect(r.targets[0].error).toBe('interrupted (SIGINT) before "c"');
    expect(r.targets[1]).toMatchObject({ ok: false, error: 'interrupted (SIGINT): not started' });
    expect(interruptedLine(r, 'flanctl bootstrap')).toBe('interrupted: 2 changes applied, 2 steps not run on 2 targets; nothing was left half-written. Run `flanctl bootstrap` to finish.');
    expect([signalExitCode('SIGINT'), signalExitCode('SIGTERM')]).toEqual([130, 143]);
  });
});

describe('sweeping temp files of interrupted runs', () => {
  it('finds .<name>.flanctl-XXXX and .flanctl.XXXX in every managed directory, removes only those', async () => {
    const inv = await testInventory(inventoryYaml());
    const dirs = managedDirs(inv);
    expect(dirs).toEqual(expect.arrayContaining(['/etc/flannel', '/opt/flannel/bin', '/etc/sysctl.d', '/etc/supervisor/conf.d', '/etc/modules-load.d', '/run/flannel']));
    const conn = fakeConnector({
      name: 'node1',
      files: {
        '/etc/flannel/.flanneld-key.pem.flanctl-0a1b2c3d': '',
        '/opt/flannel/bin/.flanctl.Xy12AbCd': '',
        '/opt/flannel/bin/flanneld': 'bin',
        '/etc/sysctl.d/.90-flanctl.conf.flanctl-deadbeef': '',
        '/etc/other/.x.flanctl-00000000': '',
      },
    });
    const removed: string[] = [];
    conn.on(['rm', '-f', '--'], (argv) => (removed.push(...argv.slice(3)), {}));
    const change = await litterStep(inv).check({ inventory: inv, node: inv.nodes[0], conn, touched: new Set() });
    expect(change).toMatchObject({ action: 'delete', summary: 'remove 3 temp file(s) an interrupted run left' });
    await change!.apply();
    expect(removed.sort()).toEqual(['/etc/flannel/.flanneld-key.pem.flanctl-0a1b2c3d', '/etc/sysctl.d/.90-flanctl.conf.flanctl-deadbeef', '/opt/flannel/bin/.flanctl.Xy12AbCd']);
  });
});

describe('disk full', () => {
  it('a failed write is explained with the mount point, free and needed space', async () => {
    const { fileStep } = await import('../../src/steps/file.js');
    const inv = await testInventory(inventoryYaml());
    const conn = fakeConnector({ name: 'node3' });
    conn.write = async () => {
      throw new Error('node3 (10.77.0.13): could not write /opt/flannel/bin/flanneld: Failure');
    };
    conn.on(['sh', '-c', /flanctl|df -P/], (argv) => (argv[3] === 'flanctl-space' ? { stdout: '-1 8 /opt\n' } : { code: 1 }));
    const step = fileStep({ id: 'binary:flanneld', title: 'flanneld binary', path: '/opt/flannel/bin/flanneld', content: Buffer.alloc(51 * 1024), mode: 0o755, binary: true });
    const change = await step.check({ inventory: inv, node: inv.nodes[0], conn, touched: new Set() });
    await expect(change!.apply()).rejects.toThrow('node3: could not write /opt/flannel/bin/flanneld: no space left on /opt (8 kB free, 51 kB needed)');
  });

  it('preflight arithmetic: files of the same size count as unchanged, the rest is summed per mount point', async () => {
    const { spaceShortages } = await import('../../src/steps/space.js');
    const conn = fakeConnector({ name: 'n' }).on(['sh', '-c'], { stdout: '-1 100 /opt\n5000 100 /opt\n-1 100000 /\n' });
    const short = await spaceShortages(conn, [{ path: '/opt/a', bytes: 90 * 1024 }, { path: '/opt/b', bytes: 20 * 1024 }, { path: '/etc/c', bytes: 10 }]);
    expect(short).toEqual([{ mount: '/opt', freeBytes: 100 * 1024, neededBytes: 110 * 1024 }]);
    const same = fakeConnector({ name: 'n' }).on(['sh', '-c'], { stdout: '92160 10 /opt\n' });
    expect(await spaceShortages(same, [{ path: '/opt/a', bytes: 90 * 1024 }])).toEqual([]);
  });
});

describe('a node that stops answering', () => {
  it('fails its own step as `node3: no answer for 15 s during "<step>" (timed out)`; the other node finishes', async () => {
    const { NoAnswerError } = await import('../../src/errors.js');
    const frozen: Step = { id: 'svc', title: 'flanneld service (supervisord)', check: async () => { throw new NoAnswerError('node3', 15); } };
    const fine: Step = { id: 'svc', title: 'flanneld service (supervisord)', check: async () => undefined };
    const r = await converge([
      { name: 'node3', steps: [frozen], open: async () => ({ inventory: undefined as never }) },
      { name: 'node1', steps: [fine], open: async () => ({ inventory: undefined as never }) },
    ], { command: 'bootstrap', mode: 'apply', output: 'silent' });
    expect(r.targets[0]).toMatchObject({ ok: false, error: 'node3: no answer for 15 s during "flanneld service (supervisord)" (timed out)' });
    expect(r.targets[1].ok).toBe(true);
  });
});
