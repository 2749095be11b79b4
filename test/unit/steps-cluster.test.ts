import { describe, expect, it } from 'vitest';
import { memoryKv } from '../../src/kv/memory.js';
import { networkConfigText } from '../../src/model/flannel-config.js';
import { etcdConfigStep } from '../../src/steps/etcd-config.js';
import { leaseWaitStep } from '../../src/steps/lease-wait.js';
import { sysctlFileStep, sysctlRuntimeStep } from '../../src/steps/sysctl.js';
import { moduleSteps } from '../../src/steps/modules.js';
import { ctxFor, inventoryYaml, simCluster, testInventory } from './bootstrap-fakes.js';

describe('etcdConfigStep', () => {
  it('creates <prefix>/config, then is clean; a reordered equal value counts as equal', async () => {
    const inv = await testInventory();
    const kv = memoryKv();
    const state = { configUpdated: false };
    const step = etcdConfigStep(inv, state);
    const ctx = { inventory: inv, kv, touched: new Set<string>() };
    const c = await step.check(ctx);
    expect(c?.action).toBe('create');
    await c!.apply();
    expect(kv.data.get('/coreos.com/network/config')).toBe(networkConfigText(inv));
    expect(await step.check(ctx)).toBeUndefined();
    const v = JSON.parse(networkConfigText(inv));
    kv.data.set('/coreos.com/network/config', JSON.stringify({ Backend: v.Backend, SubnetLen: v.SubnetLen, Network: v.Network }));
    expect(await step.check(ctx)).toBeUndefined();
    expect(state.configUpdated).toBe(false);
  });

  it('an update marks the cluster for restarts and shows a diff', async () => {
    const inv = await testInventory();
    const kv = memoryKv({ '/coreos.com/network/config': '{"Network":"10.244.0.0/16","SubnetLen":26,"Backend":{"Type":"vxlan","VNI":1}}' });
    const state = { configUpdated: false };
    const c = await etcdConfigStep(inv, state).check({ inventory: inv, kv, touched: new Set() });
    expect(c?.action).toBe('update');
    expect(state.configUpdated).toBe(true);
    expect(c?.diff?.before).toContain('26');
    expect(c?.diff?.after).toContain('24');
  });

  it('refuses a backend change and points at switch-backend, writing nothing', async () => {
    const inv = await testInventory();
    const kv = memoryKv({ '/coreos.com/network/config': '{"Network":"10.244.0.0/16","Backend":{"Type":"host-gw"}}' });
    await expect(etcdConfigStep(inv, { configUpdated: false }).check({ inventory: inv, kv, touched: new Set() })).rejects.toMatchObject({
      message: expect.stringContaining('backend host-gw'),
      hint: expect.stringContaining('switch-backend vxlan'),
    });
    expect(kv.writes).toHaveLength(0);
  });
});

describe('sysctl and modules', () => {
  it('ip_forward: persisted file and runtime value, then clean', async () => {
    const sim = simCluster(await testInventory());
    const ctx = ctxFor(sim, 'node1');
    for (const step of [sysctlFileStep(), sysctlRuntimeStep()]) {
      const c = await step.check(ctx);
      expect(c).toBeDefined();
      await c!.apply();
      expect(await step.check(ctx)).toBeUndefined();
    }
    expect(sim.node('node1').sysctl.get('net.ipv4.ip_forward')).toBe('1');
    expect(sim.node('node1').conn.text('/etc/sysctl.d/90-flanctl.conf')).toContain('net.ipv4.ip_forward = 1');
  });

  it('built-in modules count as loaded; a missing one is modprobed', async () => {
    const sim = simCluster(await testInventory());
    const n = sim.node('node1');
    const [, runtime] = moduleSteps(sim.inv);
    expect(await runtime.check(ctxFor(sim, 'node1'))).toBeUndefined();
    n.dirs.delete('/sys/module/vxlan');
    n.conn.on(['modprobe', 'vxlan'], () => (n.dirs.add('/sys/module/vxlan'), {}));
    const c = await runtime.check(ctxFor(sim, 'node1'));
    expect(c?.summary).toBe('modprobe vxlan');
    await c!.apply();
    expect(await runtime.check(ctxFor(sim, 'node1'))).toBeUndefined();
  });
});

describe('leaseWaitStep', () => {
  it('is clean when the lease and subnet.env agree', async () => {
    const sim = simCluster(await testInventory());
    const n = sim.node('node1');
    n.programs.set('flanneld', { state: 'RUNNING' });
    await n.conn.exec(['supervisorctl', 'restart', 'flanneld']);
    expect(await leaseWaitStep(sim.inv, { timeoutMs: 100 }).check(ctxFor(sim, 'node1'))).toBeUndefined();
  });

  it('times out naming what is missing, with the last lines of the log', async () => {
    const sim = simCluster(await testInventory());
    const c = await leaseWaitStep(sim.inv, { timeoutMs: 300 }).check(ctxFor(sim, 'node1'));
    expect(c?.summary).toMatch(/a subnet lease in etcd/);
    await expect(c!.apply()).rejects.toThrow(/no lease with PublicIP 10.77.0.11[\s\S]*failed to retrieve network config/);
  });
});

