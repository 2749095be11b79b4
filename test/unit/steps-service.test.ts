import { describe, expect, it } from 'vitest';
import { parseSupervisorStatus, restartFlanneld, serviceDefinitionStep, serviceStep, waitUntilServing, DEFINITION_ID } from '../../src/steps/service.js';
import { applySteps, ctxFor, inventoryYaml, simCluster, testInventory } from './bootstrap-fakes.js';
import type { Step } from '../../src/engine/step.js';

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

describe('supervisord service', () => {
  it('fresh node: writes the program, update starts both programs once, no extra restart', async () => {
    const { sim, n, def, svc } = await setup();
    const changes = await pass(def, svc, ctxFor(sim, 'node1'));
    expect(changes.map((c) => c.id)).toEqual([DEFINITION_ID, 'service:flanneld']);
    expect(n.programs.get('flanneld')?.state).toBe('RUNNING');
    expect(n.programs.get('flanctl-iptables')?.state).toBe('RUNNING');
    expect(n.starts).toBe(1);
    const sc = n.conn.execs().filter((a) => a[0] === 'supervisorctl' && a[1] !== 'status');
    expect(sc).toEqual([['supervisorctl', 'update', 'flanneld', 'flanctl-iptables']]);
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
    const changes = await pass(b.def, a.svc, ctx);
    expect(changes.map((c) => c.action)).toEqual(['update', 'restart']);
    expect(a.n.starts).toBe(2);
    expect(a.n.conn.execs().filter((x) => x[1] === 'restart')).toEqual([]);
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
    expect(a.n.conn.execs().filter((x) => x[0] === 'supervisorctl' && x[1] === 'update').at(-1)).toEqual(['supervisorctl', 'update', 'flanneld', 'flanctl-iptables']);
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
    await c!.apply();
    expect(n.starts).toBe(2);
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
    await c!.apply();
    expect(n.programs.get('flanneld')!.state).toBe('RUNNING');
    expect(n.programs.get('flanctl-iptables')!.pid).not.toBe(watcherPid);
  });

  it('fails with the log tail when flanneld ends FATAL', async () => {
    const { sim, n, def, svc } = await setup();
    await pass(def, svc, ctxFor(sim, 'node1'));
    n.programs.get('flanneld')!.state = 'STOPPED';
    n.conn.on(['supervisorctl', 'start', 'flanneld'], () => {
      n.programs.get('flanneld')!.state = 'FATAL';
      return { code: 7, stdout: 'flanneld: ERROR (spawn error)\n' };
    });
    const c = await svc.check(ctxFor(sim, 'node1'));
    await expect(c!.apply()).rejects.toThrow(/spawn error/);
  });

  it('parses supervisorctl status lines', () => {
    const s = parseSupervisorStatus('flanneld                         RUNNING   pid 123, uptime 0:01:00\nflanctl-iptables: ERROR (no such process)\n', ['flanneld', 'flanctl-iptables']);
    expect(s).toEqual({ flanneld: { state: 'RUNNING', pid: 123 }, 'flanctl-iptables': { state: 'MISSING' } });
  });
});

describe('systemd service', () => {
  it('fresh: daemon-reload, enable, start (no-block); second pass clean', async () => {
    const { sim, n, def, svc } = await setup('systemd');
    const changes = await pass(def, svc, ctxFor(sim, 'node1'));
    expect(changes.map((c) => c.id)).toEqual([DEFINITION_ID, 'service:flanneld']);
    expect(n.conn.text('/etc/systemd/system/flanneld.service')).toContain('Type=notify');
    const sys = n.conn.execs().filter((a) => a[0] === 'systemctl' && !a[1].startsWith('is-') && a[1] !== 'show');
    expect(sys).toEqual([['systemctl', 'daemon-reload'], ['systemctl', 'enable', 'flanneld'], ['systemctl', '--no-block', 'start', 'flanneld']]);
    expect(await pass(def, svc, ctxFor(sim, 'node1'))).toEqual([]);
    expect(n.starts).toBe(1);
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
    n.conn.on(['sh', '-s', '--', '127.0.0.1', '2401'], () => ({ stdout: ++probes < 3 ? 'curl 7 000\n' : 'curl 0 200\n' }));
    await restartFlanneld(inv, n.conn);
    expect(probes).toBe(3);
  });

  it('fails naming the port and with the log tail when /healthz never answers', async () => {
    const { inv, sim, n, def, svc } = await setup();
    await pass(def, svc, ctxFor(sim, 'node1'));
    n.conn.on(['sh', '-s', '--', '127.0.0.1', '2401'], { stdout: 'curl 7 000\n' });
    await expect(waitUntilServing(inv, n.conn, 1200)).rejects.toThrow(/healthz does not answer; last log lines:\n.*flanneld/);
  });

  it('does not probe /healthz when no port is set', async () => {
    const { inv, sim, n, def, svc } = await setup('supervisord', 0);
    await pass(def, svc, ctxFor(sim, 'node1'));
    await waitUntilServing(inv, n.conn, 1200);
    expect(n.conn.execs().some((a) => a[0] === 'sh' && a[1] === '-s')).toBe(false);
  });
});
