import { beforeEach, describe, expect, it } from 'vitest';
import { DriftError, FlanctlError } from '../../src/errors.js';
import type { Backend, Inventory } from '../../src/model/inventory.js';
import { configKey } from '../../src/model/leases.js';
import { switchBackend, type SwitchFullDeps } from '../../src/switch/switch.js';
import type { VerifySummary } from '../../src/switch/transition.js';
import type { PeerRepairReport } from '../../src/bootstrap/peer-repair.js';
import {
  bootFakeCluster, fakeCluster, fakeConfigText, inventoryText, simulateStart, simulateStopAndClean, testInventory, type FakeCluster,
} from './switch-fakes.js';

const hostGw: Backend = { type: 'host-gw' };
const vxlanDr: Backend = { type: 'vxlan', vni: 1, port: 8472, directRouting: true, gbp: false };

/** A verify that judges the fake nodes like the real one would: every peer routed the backend's way, no stale device. */
function judge(cluster: FakeCluster, inv: Inventory): VerifySummary {
  const b = inv.network.backend;
  const failedPairs: string[] = [];
  const failedChecks: string[] = [];
  for (const node of cluster.nodes.values()) {
    const devs = [...node.links].filter((l) => l.startsWith('flannel'));
    const want = b.type === 'vxlan' ? [`flannel.${b.vni}`] : [];
    if (devs.join() !== want.join()) failedChecks.push(`${node.spec.name}: devices ${devs.join(',') || 'none'}`);
    for (const peer of cluster.nodes.values()) {
      if (peer === node) continue;
      const r = node.routes.find((x) => x.dst === peer.subnet);
      const direct = b.type === 'host-gw' || (b.type === 'vxlan' && b.directRouting);
      const good = r && peer.running && node.running && (direct ? r.gateway === peer.spec.publicIp && r.dev === 'eth0' : r.dev === `flannel.${(b as { vni: number }).vni}`);
      if (!good) failedPairs.push(`${node.spec.name} → ${peer.spec.name}`);
    }
  }
  return { ok: !failedPairs.length && !failedChecks.length, failedPairs, failedChecks };
}

let inv: Inventory;
let cluster: FakeCluster;
let clock: number;
let written: Backend[];
let verifies: Array<{ backend: string; ok: boolean }>;
let breakVerify: ((inv: Inventory) => VerifySummary | undefined) | undefined;

function deps(): SwitchFullDeps {
  return {
    get: async (n) => cluster.nodes.get(n)!.conn,
    kv: cluster.kv,
    stopService: async (_c, _i, n, afterStop) => simulateStopAndClean(cluster, n.name, afterStop),
    startService: async (_c, i, n) => simulateStart(cluster, i, n.name),
    verify: async (i) => {
      const v = breakVerify?.(i) ?? judge(cluster, i);
      verifies.push({ backend: i.network.backend.type, ok: v.ok });
      return v;
    },
    log: () => {},
    now: () => (clock += 7),
    sleep: async (ms) => {
      clock += ms;
    },
    concurrency: 10,
    leaseTimeoutMs: 2000,
    verifyAttempts: 2,
    verifyIntervalMs: 100,
    configText: fakeConfigText,
    writeInventory: async (b) => {
      written.push(b);
      return true;
    },
  };
}

const run = (to: Backend, extra: Partial<{ force: boolean; rollback: boolean; dryRun: boolean }> = {}) =>
  switchBackend(inv, { to, force: false, rollback: true, dryRun: false, ...extra }, deps());

beforeEach(async () => {
  inv = await testInventory();
  cluster = fakeCluster(inv, fakeConfigText(inv));
  await bootFakeCluster(cluster, inv);
  clock = 1000;
  written = [];
  verifies = [];
  breakVerify = undefined;
});

const indexes = (prefix: string) => cluster.events.flatMap((e, i) => (e.startsWith(prefix) ? [i] : []));

describe('switch-backend sequencing', () => {
  it('stops all, cleans, writes the config, starts all, verifies, then updates the inventory', async () => {
    const report = await run(hostGw);
    expect(report.outcome).toBe('switched');
    expect(report.ok).toBe(true);
    const stops = indexes('stop');
    const starts = indexes('start');
    const [put] = indexes('put config host-gw');
    expect(stops).toHaveLength(3);
    expect(starts).toHaveLength(3);
    expect(Math.max(...stops)).toBeLessThan(put);
    expect(put).toBeLessThan(Math.min(...starts));
    for (const node of cluster.nodes.values()) {
      expect([...node.links].filter((l) => l.startsWith('flannel'))).toEqual([]);
      expect(node.routes.filter((r) => r.dev === 'flannel.1')).toEqual([]);
    }
    expect(written).toEqual([hostGw]);
    expect(report.downtimeMs).toBeGreaterThan(0);
    expect(verifies.at(-1)).toEqual({ backend: 'host-gw', ok: true });
  });

  it('rolls back to the exact previous config when flanneld fails to start on one node', async () => {
    const original = cluster.kv.data.get(configKey(inv.etcd.prefix));
    cluster.startFails = (node, backend) => node === 'node3' && backend === 'host-gw';
    const report = await run(hostGw);
    expect(report.outcome).toBe('rolled-back');
    expect(report.ok).toBe(false);
    expect(report.failure).toMatchObject({ phase: 'start', nodes: ['node3'] });
    expect(report.message).toMatch(/back on vxlan/);
    expect(cluster.events).toEqual([
      'stop node1', 'stop node2', 'stop node3', 'put config host-gw', 'start node1', 'start node2', 'start node3',
      'stop node1', 'stop node2', 'stop node3', 'put config vxlan', 'start node1', 'start node2', 'start node3',
    ]);
    expect(cluster.kv.data.get(configKey(inv.etcd.prefix))).toBe(original);
    expect(written).toEqual([]);
    expect(verifies).toEqual([{ backend: 'vxlan', ok: true }]);
    for (const node of cluster.nodes.values()) expect(node.links.has('flannel.1')).toBe(true);
  });

  it('rolls back when verify names failed pairs, and reports the pairs', async () => {
    breakVerify = (i) => (i.network.backend.type === 'host-gw' ? { ok: false, failedPairs: ['node1 → node3', 'node2 → node3'], failedChecks: [] } : undefined);
    const report = await run(hostGw);
    expect(report.outcome).toBe('rolled-back');
    expect(report.failure?.phase).toBe('verify');
    expect(report.failure?.pairs).toEqual(['node1 → node3', 'node2 → node3']);
    expect(report.message).toContain('node1 → node3');
    expect(verifies.map((v) => v.backend)).toEqual(['host-gw', 'host-gw', 'vxlan']);
  });

  it('says which node is in which state when the rollback fails too', async () => {
    cluster.startFails = (node) => node === 'node3';
    const report = await run(hostGw);
    expect(report.outcome).toBe('rollback-failed');
    expect(report.rollbackFailure?.phase).toBe('start');
    expect(report.nodes?.node3.phase).toBe('start-failed');
    expect(report.nodes?.node1).toMatchObject({ phase: 'started', backend: expect.stringMatching(/^vxlan/) });
    expect(report.message).toMatch(/node3: start-failed/);
    expect(report.message).toMatch(/node1: started on vxlan/);
  });

  it('--no-rollback leaves the cluster as it is after a failure', async () => {
    cluster.startFails = (node, backend) => node === 'node2' && backend === 'host-gw';
    const report = await run(hostGw, { rollback: false });
    expect(report.outcome).toBe('failed');
    expect(indexes('stop')).toHaveLength(3);
    expect(indexes('put config vxlan')).toHaveLength(0);
  });

  it('repairs stale peer state after the start (v0.20.2 race), before verify, and names the repaired nodes', async () => {
    let missedOnce = false;
    const d = deps();
    d.startService = async (_c, i, n) => {
      await simulateStart(cluster, i, n.name);
      if (n.name === 'node2' && !missedOnce) {
        missedOnce = true;
        const node = cluster.nodes.get('node2')!;
        node.routes = node.routes.filter((r) => r.dst !== cluster.nodes.get('node3')!.subnet);
      }
    };
    const calls: string[] = [];
    d.repairPeerState = async (i) => {
      calls.push(i.network.backend.type);
      const stale = [...cluster.nodes.values()].filter((node) => [...cluster.nodes.values()].some((p) => p !== node && !node.routes.some((r) => r.dst === p.subnet)));
      for (const node of stale) await simulateStart(cluster, i, node.spec.name);
      const found = Object.fromEntries(stale.map((n) => [n.spec.name, ['node3']]));
      return { found, mismatches: [], rounds: stale.length ? [{ batchSize: stale.length, restarted: stale.map((n) => n.spec.name), failed: [], leaseChanged: [], stale: {}, durationMs: 5 }] : [], restarted: stale.map((n) => n.spec.name), remaining: {}, ok: true, durationMs: 5 };
    };
    const report = await switchBackend(inv, { to: hostGw, force: false, rollback: true, dryRun: false }, d);
    expect(report.outcome).toBe('switched');
    expect(calls).toEqual(['host-gw']);
    expect(indexes('start node2')).toHaveLength(2);
    expect(verifies).toEqual([{ backend: 'host-gw', ok: true }]);
    expect(report.phasesMs).toHaveProperty('peers');
    expect(report.message).toContain('flanneld restarted for stale peer state on node2');
    expect(report.peerRepairs).toEqual([expect.objectContaining({ transition: 'switch', restarted: ['node2'], found: { node2: ['node3'] } })]);
  });

  it('stale peer state that a repair cannot fix fails the switch in phase "peers" and rolls back', async () => {
    const d = deps();
    let n = 0;
    d.repairPeerState = async (): Promise<PeerRepairReport> => (++n === 1
      ? { found: { node1: ['node2'] }, mismatches: [], rounds: [], restarted: ['node1'], remaining: { node1: ['node2'] }, ok: false, problem: 'still stale after 4 round(s): node1 (node2)', durationMs: 1 }
      : { found: {}, mismatches: [], rounds: [], restarted: [], remaining: {}, ok: true, durationMs: 1 });
    const report = await switchBackend(inv, { to: hostGw, force: false, rollback: true, dryRun: false }, d);
    expect(report.outcome).toBe('rolled-back');
    expect(report.failure).toMatchObject({ phase: 'peers', nodes: ['node1'] });
    expect(report.failure?.message).toContain('stale peer state on node1 (node2)');
    expect(report.peerRepairs).toEqual([expect.objectContaining({ transition: 'switch', ok: false })]);
  });

  it('switches vxlan → vxlan DirectRouting: the device is recreated, peer routes go via public IPs', async () => {
    const report = await run(vxlanDr);
    expect(report.outcome).toBe('switched');
    const n1 = cluster.nodes.get('node1')!;
    expect(n1.routes.find((r) => r.dst === '10.244.2.0/24')).toMatchObject({ gateway: '10.77.0.12', dev: 'eth0' });
    // flannel.1 was deleted during cleanup, then recreated by the (fake) flanneld
    expect(n1.conn.execs()).toContainEqual(['ip', 'link', 'del', 'flannel.1']);
  });
});

describe('switch-backend refusals change nothing', () => {
  it('refuses when etcd disagrees with the inventory (exit 3), unless --force', async () => {
    const drifted = JSON.stringify({ Network: '10.244.0.0/16', Backend: { Type: 'vxlan', VNI: 1, Port: 8472, DirectRouting: true } });
    cluster.kv.data.set(configKey(inv.etcd.prefix), drifted);
    const err = await run(hostGw).catch((e) => e);
    expect(err).toBeInstanceOf(DriftError);
    expect(err.exitCode).toBe(3);
    expect(err.message).toContain('DirectRouting');
    expect(cluster.events).toEqual([]);
    const forced = await run(hostGw, { force: true });
    expect(forced.from).toMatch(/DirectRouting/);
    expect(forced.outcome).toBe('switched');
  });

  it('refuses host-gw when a public IP is not the interface address', async () => {
    inv = await testInventory(inventoryText().replace('host: 10.77.0.13 }', 'host: 10.77.0.13, publicIp: 10.77.0.99 }'));
    cluster = fakeCluster(inv, fakeConfigText(inv));
    const n3 = cluster.nodes.get('node3')!;
    n3.conn.on(['ip', '-j', 'addr', 'show', 'dev', 'eth0'], { stdout: JSON.stringify([{ ifname: 'eth0', addr_info: [{ family: 'inet', local: '10.77.0.13', prefixlen: 24 }] }]) });
    const err = await run(hostGw).catch((e) => e);
    expect(err).toBeInstanceOf(FlanctlError);
    expect(err.message).toMatch(/node3: public IP 10\.77\.0\.99 is not an address of eth0/);
    expect(err.message).toContain('nothing changed');
    expect(cluster.events).toEqual([]);
    expect(cluster.kv.puts).toEqual([]);
  });

  it('--dry-run plans the cleanup per node and changes nothing', async () => {
    const report = await run(hostGw, { dryRun: true });
    expect(report.outcome).toBe('dry-run');
    const n1 = report.plan!.nodes.find((n) => n.node === 'node1')!;
    expect(n1.cleanup.devices.map((d) => d.name)).toEqual(['flannel.1']);
    expect(n1.cleanup.routes.map((r) => r.route.dst).sort()).toEqual(['10.244.2.0/24', '10.244.3.0/24']);
    expect(cluster.events).toEqual([]);
    expect(cluster.nodes.get('node1')!.links.has('flannel.1')).toBe(true);
  });

  it('does nothing when the cluster already runs the target backend', async () => {
    const report = await run({ type: 'vxlan', vni: 1, port: 8472, directRouting: false, gbp: false });
    expect(report.outcome).toBe('unchanged');
    expect(cluster.events).toEqual([]);
  });

  it('a declined confirmation changes nothing', async () => {
    let shown: string[] = [];
    const report = await switchBackend(inv, { to: hostGw, force: false, rollback: true, dryRun: false, confirm: async (lines) => ((shown = lines), false) }, deps());
    expect(report.outcome).toBe('declined');
    expect(shown.join('\n')).toContain('device flannel.1');
    expect(cluster.events).toEqual([]);
  });
});
