import { describe, expect, it } from 'vitest';
import { healthzArgv, parseSupervisorStatus, restartFlanneld, serviceDefinitionStep, serviceStep, DEFINITION_ID } from '../../src/steps/service.js';
import { applySteps, ctxFor, inventoryYaml, simCluster, testInventory } from './bootstrap-fakes.js';
import type { Step } from '../../src/engine/step.js';
import { watcherUpStep } from '../../src/steps/service-supervisord.js';

async function setup(service: 'supervisord' | 'systemd' = 'supervisord', healthz = 2401) {
  const inv = await testInventory(inventoryYaml({ service, extra: `` }).replace('  service:', `  healthzPort: ${healthz}\n  service:`));
  const sim = simCluster(inv);
  const n = sim.node('node1');
  const def = serviceDefinitionStep(inv, n.spec, { hasMkDockerOpts: true });
  let configUpdated = false;
  const svc = serviceStep(inv, {
    dependsOn: ['cert:flanneld', 'binary:flanneld', DEFINITION_ID],
    watcherDependsOn: ['file:iptables-script'],
    restartReason: () => (configUpdated ? 'network config changed in etcd' : undefined),
  });
  return { inv, sim, n, def, svc, setConfigUpdated: (v: boolean) => (configUpdated = v) };
}

/** One engine-like pass over [definition, service]; returns the changes. */
const pass = (def: Step, svc: Step, ctx: ReturnType<typeof ctxFor>) => applySteps([def, svc], ctx);

/** What each exec of the service step was, by its marker (one entry per round trip). */
const kinds = (execs: string[][]) =>
  execs.flatMap((a) => {
    if (a[0] === 'sh' && a[1] === '-c' && /^flanctl-supervisor/.test(a[3])) return [`${a[3].replace('flanctl-', '')} ${a.slice(a[3] === 'flanctl-supervisor-update' || a[3] === 'flanctl-supervisor-settle' ? 5 : 4).join(' ')}`];
    if (a[0] === 'sh' && a[3] === 'flanneld-ctl') return [`ctl ${a[5]}${a[5] === 'wait' ? ` since=${a[9]}` : ''}`];
    if (a[0] === 'supervisorctl' || a[0] === 'systemctl') return [a.join(' ')];
    return [];
  });

describe('supervisord service', () => {
  it('fresh node: writes the program, update starts both programs once, no extra restart; round trips: status, update, ready (the watcher is judged by its own step)', async () => {
    const { sim, n, def, svc } = await setup();
    const changes = await pass(def, svc, ctxFor(sim, 'node1'));
    expect(changes.map((c) => c.id)).toEqual([DEFINITION_ID, 'service:flanneld']);
    expect(n.programs.get('flanneld')?.state).toBe('RUNNING');
    expect(n.programs.get('flanctl-iptables')?.state).toBe('RUNNING');
    expect(n.starts).toBe(1);
    // subnet.env's token is read in the update's round trip, before it: the ready wait needs a new one.
    expect(kinds(n.conn.execs())).toEqual([
      'supervisor-status flanneld flanctl-iptables',
      'supervisor-update flanneld flanctl-iptables',
      'ctl wait since=none',
    ]);
    // The watcher step, last on the node: RUNNING, nothing to change.
    expect(await watcherUpStep().check(ctxFor(sim, 'node1', new Set(['service:flanneld'])))).toBeUndefined();
  });

  it('second pass: nothing to do, nothing restarted', async () => {
    const { sim, n, def, svc } = await setup();
    await pass(def, svc, ctxFor(sim, 'node1'));
    const changes = await pass(def, svc, ctxFor(sim, 'node1'));
    expect(changes).toEqual([]);
    expect(n.starts).toBe(1);
  });

  it('a changed program section is restarted by update alone (no update+restart double start)', async () => {
    const a = await setup('supervisord', 2401);
    await pass(a.def, a.svc, ctxFor(a.sim, 'node1'));
    const b = await (async () => {
      const inv2 = await testInventory(inventoryYaml().replace('  service:', '  healthzPort: 2402\n  service:'));
      const { serviceDefinitionStep: d } = await import('../../src/steps/service.js');
      return { def: d(inv2, a.n.spec, { hasMkDockerOpts: true }) };
    })();
    const ctx = ctxFor(a.sim, 'node1');
    const before = a.n.conn.execs().length;
    const changes = await pass(b.def, a.svc, ctx);
    expect(changes.map((c) => c.action)).toEqual(['update', 'restart']);
    expect(a.n.starts).toBe(2);
    expect(a.n.conn.execs().filter((x) => x[1] === 'restart')).toEqual([]);
    // Only flanneld's section changed: update restarts it, the ctl script waits for a subnet.env newer
    // than the one before the update (token "1 1"), the untouched watcher is only looked at.
    expect(kinds(a.n.conn.execs().slice(before))).toEqual([
      'supervisor-status flanneld flanctl-iptables',
      'supervisor-update flanneld flanctl-iptables',
      'ctl wait since=1 1',
      'supervisor-settle flanctl-iptables',
    ]);
  });

  it('a wait that sees no new subnet.env since the update fails saying so, with the log tail', async () => {
    const a = await setup('supervisord', 2401);
    await pass(a.def, a.svc, ctxFor(a.sim, 'node1'));
    const inv2 = await testInventory(inventoryYaml().replace('  service:', '  healthzPort: 2402\n  service:'));
    // supervisord reloads the section but flanneld never comes back to write subnet.env.
    a.n.conn.on(['sh', '-c', /./, 'flanctl-supervisor-update'], { stdout: '1 1\nflanneld: stopped\nflanneld: updated process group\n' });
    const err = await pass(serviceDefinitionStep(inv2, a.n.spec, { hasMkDockerOpts: true }), a.svc, ctxFor(a.sim, 'node1')).then(() => undefined, (e: Error) => e);
    expect(err?.message).toMatch(/^node1: flanneld not ready after 60 s: .*has not rewritten \/run\/flannel\/subnet\.env since.*; last log lines:\n.*flanneld/s);
  });

  it('masquerade tightened → flannel: the flanctl-iptables program is removed, not left re-applying the old rules', async () => {
    const a = await setup();
    await pass(a.def, a.svc, ctxFor(a.sim, 'node1'));
    expect(a.n.programs.get('flanctl-iptables')?.state).toBe('RUNNING');
    const inv2 = await testInventory(inventoryYaml({ masquerade: 'flannel' }).replace('  service:', '  healthzPort: 2401\n  service:'));
    const def2 = serviceDefinitionStep(inv2, a.n.spec, { hasMkDockerOpts: true });
    const svc2 = serviceStep(inv2, { dependsOn: ['binary:flanneld', DEFINITION_ID], watcherDependsOn: [] });
    const changes = await pass(def2, svc2, ctxFor(a.sim, 'node1'));
    expect(changes.find((c) => c.id === 'service:flanneld')?.summary).toMatch(/remove flanctl-iptables/);
    expect(a.n.programs.has('flanctl-iptables')).toBe(false);
    expect(kinds(a.n.conn.execs()).filter((k) => k.startsWith('supervisor-update')).at(-1)).toEqual('supervisor-update flanneld flanctl-iptables');
    // Converged: a second pass changes nothing; back to tightened adds the program again.
    expect(await pass(def2, svc2, ctxFor(a.sim, 'node1'))).toEqual([]);
    await pass(a.def, a.svc, ctxFor(a.sim, 'node1'));
    expect(a.n.programs.get('flanctl-iptables')?.state).toBe('RUNNING');
  });

  it('restarts when a dependency was touched, and only then', async () => {
    const { sim, n, def, svc } = await setup();
    await pass(def, svc, ctxFor(sim, 'node1'));
    const ctx = ctxFor(sim, 'node1', new Set(['binary:flanneld']));
    const c = await svc.check(ctx);
    expect(c?.action).toBe('restart');
    expect(c?.summary).toContain('binary:flanneld');
    const before = n.conn.execs().length;
    await c!.apply();
    expect(n.starts).toBe(2);
    // One round trip restarts flanneld and waits until it is ready; the watcher is looked at once.
    expect(kinds(n.conn.execs().slice(before))).toEqual(['ctl restart', 'supervisor-settle flanctl-iptables']);
    expect(await svc.check(ctxFor(sim, 'node1'))).toBeUndefined();
  });

  it('restarts when the network config in etcd changed', async () => {
    const { sim, n, def, svc, setConfigUpdated } = await setup();
    await pass(def, svc, ctxFor(sim, 'node1'));
    setConfigUpdated(true);
    const c = await svc.check(ctxFor(sim, 'node1'));
    expect(c?.summary).toContain('network config changed');
    await c!.apply();
    expect(n.starts).toBe(2);
  });

  it('starts a stopped flanneld; restarts the iptables watcher when its script changed', async () => {
    const { sim, n, def, svc } = await setup();
    await pass(def, svc, ctxFor(sim, 'node1'));
    n.programs.get('flanneld')!.state = 'STOPPED';
    const c = await svc.check(ctxFor(sim, 'node1', new Set(['file:iptables-script'])));
    expect(c?.summary).toMatch(/start flanneld.*restart flanctl-iptables/);
    const watcherPid = n.programs.get('flanctl-iptables')!.pid;
    const before = n.conn.execs().length;
    await c!.apply();
    expect(n.programs.get('flanneld')!.state).toBe('RUNNING');
    expect(n.programs.get('flanctl-iptables')!.pid).not.toBe(watcherPid);
    // The watcher is restarted without waiting for its startsecs, before flanneld's wait.
    expect(kinds(n.conn.execs().slice(before))).toEqual(['supervisorctl restart flanctl-iptables', 'ctl start']);
  });

  it('the watcher step fails the node when the watcher the service step started does not end RUNNING; starts one found stopped', async () => {
    const { sim, n, def, svc } = await setup();
    await pass(def, svc, ctxFor(sim, 'node1'));
    n.programs.get('flanctl-iptables')!.state = 'STOPPED';
    n.conn.on(['sh', '-c', /./, 'flanctl-supervisorctl', 'start', 'flanctl-iptables'], () => ((n.programs.get('flanctl-iptables')!.state = 'FATAL'), { stdout: 'flanctl-iptables: started\n' }));
    const ctx = ctxFor(sim, 'node1');
    const c = await svc.check(ctx);
    expect(c?.summary).toBe('start flanctl-iptables');
    await c!.apply(); // does not wait for the watcher's startsecs
    ctx.touched.add('service:flanneld');
    await expect(watcherUpStep().check(ctx)).rejects.toThrow(/^node1: flanctl-iptables is FATAL under supervisord/);
    // Found stopped with nothing else starting it: the watcher step starts it and waits for RUNNING.
    n.programs.get('flanctl-iptables')!.state = 'STOPPED';
    n.conn.on(['sh', '-c', /./, 'flanctl-supervisorctl', 'start', 'flanctl-iptables'], () => ((n.programs.get('flanctl-iptables')!.state = 'RUNNING'), { stdout: 'flanctl-iptables: started\n' }));
    const w = await watcherUpStep().check(ctxFor(sim, 'node1'));
    expect(w?.summary).toBe('start flanctl-iptables (stopped)');
    await w!.apply();
    expect(await watcherUpStep().check(ctxFor(sim, 'node1'))).toBeUndefined();
  });

  it('without the watcher, a ready flanneld is the whole check (no further status read)', async () => {
    const inv = await testInventory(inventoryYaml({ masquerade: 'flannel' }));
    const sim = simCluster(inv);
    const n = sim.node('node1');
    const def = serviceDefinitionStep(inv, n.spec, { hasMkDockerOpts: true });
    const svc = serviceStep(inv, { dependsOn: ['binary:flanneld', DEFINITION_ID] });
    await pass(def, svc, ctxFor(sim, 'node1'));
    expect(kinds(n.conn.execs())).toEqual(['supervisor-status flanneld flanctl-iptables', 'supervisor-update flanneld', 'ctl wait since=none']);
  });

  it('fails with the log tail when flanneld ends FATAL', async () => {
    const { sim, n, def, svc } = await setup();
    await pass(def, svc, ctxFor(sim, 'node1'));
    n.programs.get('flanneld')!.state = 'STOPPED';
    n.conn.on(['sh', '-s', '--', 'flanneld-ctl'], () => {
      n.programs.get('flanneld')!.state = 'FATAL';
      return { stdout: '@result crash\n@why flanneld is FATAL under supervisord (it exited too quickly too often)\n@state FATAL\n@backoffs 3\n' };
    });
    const c = await svc.check(ctxFor(sim, 'node1'));
    await expect(c!.apply()).rejects.toThrow(/^node1: flanneld is FATAL under supervisord \(it exited too quickly too often\); last log lines:\n.*flanneld/);
  });

  it('parses supervisorctl status lines', () => {
    const s = parseSupervisorStatus('flanneld                         RUNNING   pid 123, uptime 0:01:00\nflanctl-iptables: ERROR (no such process)\n', ['flanneld', 'flanctl-iptables']);
    expect(s).toEqual({ flanneld: { state: 'RUNNING', pid: 123 }, 'flanctl-iptables': { state: 'MISSING' } });
  });
});

describe('systemd service', () => {
  it('fresh: daemon-reload, enable, start and wait for ready (ctl script); second pass clean', async () => {
    const { sim, n, def, svc } = await setup('systemd');
    const changes = await pass(def, svc, ctxFor(sim, 'node1'));
    expect(changes.map((c) => c.id)).toEqual([DEFINITION_ID, 'service:flanneld']);
    expect(n.conn.text('/etc/systemd/system/flanneld.service')).toContain('Type=notify');
    expect(kinds(n.conn.execs())).toEqual(['systemctl is-enabled flanneld', 'systemctl is-active flanneld', 'systemctl daemon-reload', 'systemctl enable flanneld', 'ctl start']);
    expect(await pass(def, svc, ctxFor(sim, 'node1'))).toEqual([]);
    expect(n.starts).toBe(1);
  });

  it('a touched dependency restarts through the ctl script, which waits until flanneld is ready', async () => {
    const { sim, n, def, svc } = await setup('systemd');
    await pass(def, svc, ctxFor(sim, 'node1'));
    const c = await svc.check(ctxFor(sim, 'node1', new Set(['cert:flanneld'])));
    expect(c).toMatchObject({ action: 'restart', summary: 'restart flanneld (changed: cert:flanneld)' });
    const before = n.conn.execs().length;
    await c!.apply();
    expect(kinds(n.conn.execs().slice(before))).toEqual(['ctl restart']);
    expect(n.starts).toBe(2);
  });

  it('a start that never gets ready fails with what is missing and the journal tail', async () => {
    const { sim, n, def, svc } = await setup('systemd');
    n.leases = false;
    const err = await pass(def, svc, ctxFor(sim, 'node1')).then(() => undefined, (e: Error) => e);
    expect(err?.message).toMatch(/^node1: flanneld not ready after 60 s: flanneld is RUNNING but has not written \/run\/flannel\/subnet\.env; etcd holds no lease with PublicIP 10\.77\.0\.11 under \/coreos\.com\/network\/subnets; last log lines:\n/);
  });

  it('enabling alone is an update, not a restart', async () => {
    const { sim, n, svc } = await setup('systemd');
    n.systemd.active = true;
    const c = await svc.check(ctxFor(sim, 'node1'));
    expect(c?.action).toBe('update');
    await c!.apply();
    expect(n.systemd.enabled).toBe(true);
    expect(n.starts).toBe(0);
  });
});

describe('a (re)start is finished only when flanneld serves again', () => {
  it('waits for /healthz after a restart, polling until it answers', async () => {
    const { inv, sim, n, def, svc } = await setup();
    await pass(def, svc, ctxFor(sim, 'node1'));
    let probes = 0;
    n.conn.on(healthzArgv('127.0.0.1', 2401), () => ({ stdout: ++probes < 3 ? 'curl 7 000\n' : 'curl 0 200\n' }));
    await restartFlanneld(inv, n.conn);
    expect(probes).toBe(3);
  });

  it('fails naming the port and with the log tail when /healthz never answers', async () => {
    const { inv, sim, n, def, svc } = await setup();
    await pass(def, svc, ctxFor(sim, 'node1'));
    n.conn.on(healthzArgv('127.0.0.1', 2401), { stdout: 'curl 7 000\n' });
    await expect(restartFlanneld(inv, n.conn, { timeoutMs: 1200 })).rejects.toThrow(/2401\/healthz does not answer; last log lines:\n.*flanneld/);
  });

  it('does not probe /healthz when no port is set', async () => {
    const { inv, sim, n, def, svc } = await setup('supervisord', 0);
    await pass(def, svc, ctxFor(sim, 'node1'));
    const before = n.conn.execs().length;
    await restartFlanneld(inv, n.conn, { timeoutMs: 1200 });
    expect(n.conn.execs().slice(before).some((a) => a[0] === 'sh' && a[3] === '127.0.0.1')).toBe(false);
  });
});
