/**
 * The 'peers' check (issue 13): per backend, a stale neighbour, a stale FDB entry, a missing route
 * and a route via the wrong gateway, each named with node, peer, what the kernel has and what the
 * lease says; through runVerify on the simulated cluster (facts read as on a real node).
 */
import { describe, expect, it } from 'vitest';
import { ExitCode } from '../../src/errors.js';
import { parseFdb, parseNeighbours, peerStateMismatches } from '../../src/verify/peer-state.js';
import { runVerify, verifyExitCode } from '../../src/verify/verify.js';
import type { Lease } from '../../src/model/leases.js';
import { simCluster, type Sim } from './verify-fakes.js';

const OLD_MAC = 'de:ad:be:ef:00:02';

async function peersCheck(sim: Sim, node = 'node1') {
  const report = await runVerify(sim.inv, sim.pool, sim.kv, {});
  return { report, check: report.checks.find((c) => c.node === node && c.name === 'peers')! };
}

describe('peers check: vxlan', () => {
  it('all in step: passes, names the count', async () => {
    const { check } = await peersCheck(await simCluster({ nodes: 3 }));
    expect(check).toMatchObject({ ok: true, detail: '2 peers in step with their leases' });
  });

  it('stale neighbour (the peer\'s old VtepMAC): fails with node, peer, kernel and lease; exit 3; --json carries it', async () => {
    const sim = await simCluster({ nodes: 3 });
    sim.nodes[0].neigh.find((n) => n.dst === '10.244.2.0')!.lladdr = OLD_MAC;
    const { report, check } = await peersCheck(sim);
    expect(verifyExitCode(report)).toBe(ExitCode.drift);
    expect(check.ok).toBe(false);
    expect(check.detail).toBe(`stale or missing state for node2: node2 (10.244.2.0/24) neighbour: kernel has 10.244.2.0 lladdr ${OLD_MAC}, lease says 10.244.2.0 lladdr aa:bb:cc:00:00:02`);
    expect(check.peers).toEqual([{ node: 'node1', peer: 'node2', subnet: '10.244.2.0/24', item: 'neighbour', kernel: `10.244.2.0 lladdr ${OLD_MAC}`, lease: '10.244.2.0 lladdr aa:bb:cc:00:00:02' }]);
    expect(JSON.parse(JSON.stringify(report)).checks).toContainEqual(expect.objectContaining({ node: 'node1', name: 'peers', ok: false, peers: check.peers }));
  });

  it('stale FDB entry: fails naming the old MAC the kernel holds', async () => {
    const sim = await simCluster({ nodes: 3 });
    sim.nodes[1].fdb.find((f) => f.dst === sim.nodes[2].ip)!.mac = OLD_MAC;
    const { check } = await peersCheck(sim, 'node2');
    expect(check.ok).toBe(false);
    expect(check.peers).toEqual([expect.objectContaining({ node: 'node2', peer: 'node3', item: 'fdb', kernel: `${OLD_MAC} dst 10.77.1.13`, lease: 'aa:bb:cc:00:00:03 dst 10.77.1.13' })]);
  });

  it('missing neighbour and FDB entries are named too', async () => {
    const sim = await simCluster({ nodes: 2 });
    sim.nodes[0].neigh = [];
    sim.nodes[0].fdb = [];
    const { check } = await peersCheck(sim);
    expect(check.peers?.map((m) => `${m.item}: ${m.kernel}`)).toEqual(['neighbour: no neighbour 10.244.2.0 on flannel.1', 'fdb: no FDB entry for 10.77.1.12 on flannel.1']);
  });

  it('missing route', async () => {
    const sim = await simCluster({ nodes: 3 });
    sim.nodes[0].routes = sim.nodes[0].routes.filter((r) => r.dst !== '10.244.3.0/24');
    const { check } = await peersCheck(sim);
    expect(check.peers).toEqual([expect.objectContaining({ peer: 'node3', item: 'route', kernel: 'no route', lease: '10.244.3.0/24 via 10.244.3.0 dev flannel.1 onlink' })]);
  });

  it('route via the wrong gateway', async () => {
    const sim = await simCluster({ nodes: 3 });
    sim.nodes[0].routes.find((r) => r.dst === '10.244.2.0/24')!.gateway = '10.244.9.0';
    const { check } = await peersCheck(sim);
    expect(check.peers).toEqual([expect.objectContaining({ peer: 'node2', item: 'route', kernel: '10.244.2.0/24 via 10.244.9.0 dev flannel.1 onlink', lease: '10.244.2.0/24 via 10.244.2.0 dev flannel.1 onlink' })]);
  });
});

describe('peers check: host-gw', () => {
  it('all in step passes; neighbour/FDB tables are not read', async () => {
    const sim = await simCluster({ nodes: 3, backend: 'host-gw', bridges: true });
    const { check } = await peersCheck(sim);
    expect(check.ok).toBe(true);
    expect(sim.nodes[0].conn.execs().some((a) => a[0] === 'sh' && a[1] === '-c' && /neigh|fdb/.test(a[2]))).toBe(false);
  });

  it('missing route and route via the wrong gateway', async () => {
    const sim = await simCluster({ nodes: 3, backend: 'host-gw', bridges: true });
    sim.nodes[0].routes = sim.nodes[0].routes.filter((r) => r.dst !== '10.244.3.0/24');
    sim.nodes[0].routes.find((r) => r.dst === '10.244.2.0/24')!.gateway = '10.77.1.99';
    const { report, check } = await peersCheck(sim);
    expect(verifyExitCode(report)).toBe(ExitCode.drift);
    expect(check.peers).toEqual([
      expect.objectContaining({ peer: 'node2', item: 'route', kernel: '10.244.2.0/24 via 10.77.1.99 dev eth0', lease: '10.244.2.0/24 via 10.77.1.12 dev eth0' }),
      expect.objectContaining({ peer: 'node3', item: 'route', kernel: 'no route', lease: '10.244.3.0/24 via 10.77.1.13 dev eth0' }),
    ]);
  });

  it('a stale neighbour or FDB entry cannot matter (no flannel.1): the pure check ignores them', () => {
    const lease: Lease = { key: 'k', subnet: '10.244.2.0/24', publicIp: '10.77.1.12', backendType: 'host-gw', value: '' };
    const ms = peerStateMismatches({
      backend: { type: 'host-gw' } as never, node: 'node1', iface: 'eth0', network: '10.244.0.0/16',
      peers: [{ name: 'node2', lease }],
      routes: [{ dst: '10.77.1.0/24', dev: 'eth0', onlink: false }, { dst: '10.244.2.0/24', gateway: '10.77.1.12', dev: 'eth0', onlink: false }],
      neigh: parseNeighbours(`[{"dst":"10.244.2.0","lladdr":"${OLD_MAC}","state":["PERMANENT"]}]`),
      fdb: parseFdb(`[{"mac":"${OLD_MAC}","dst":"10.77.1.12"}]`),
    });
    expect(ms).toEqual([]);
  });
});

describe('peers check: vxlan + DirectRouting', () => {
  it('peers on the same L2 need only the direct route; stale neighbour/FDB entries there do not matter', async () => {
    const sim = await simCluster({ nodes: 3, directRouting: true });
    sim.nodes[0].neigh.push({ dst: '10.244.2.0', lladdr: OLD_MAC, state: ['PERMANENT'] });
    sim.nodes[0].fdb.push({ mac: OLD_MAC, dst: '10.77.1.12' });
    expect((await peersCheck(sim)).check.ok).toBe(true);
  });

  it('missing direct route, and a vxlan route where the lease calls for the direct one (wrong gateway)', async () => {
    const sim = await simCluster({ nodes: 3, directRouting: true });
    sim.nodes[0].routes = sim.nodes[0].routes.filter((r) => r.dst !== '10.244.3.0/24');
    Object.assign(sim.nodes[0].routes.find((r) => r.dst === '10.244.2.0/24')!, { gateway: '10.244.2.0', dev: 'flannel.1', flags: ['onlink'] });
    const { check } = await peersCheck(sim);
    expect(check.peers).toEqual([
      expect.objectContaining({ peer: 'node2', item: 'route', kernel: '10.244.2.0/24 via 10.244.2.0 dev flannel.1 onlink', lease: '10.244.2.0/24 via 10.77.1.12' }),
      expect.objectContaining({ peer: 'node3', item: 'route', kernel: 'no route', lease: '10.244.3.0/24 via 10.77.1.13' }),
    ]);
  });

  it('a peer on another segment goes over vxlan: its stale neighbour and FDB entries fail', () => {
    const lease = (n: number, ip: string): Lease => ({ key: `k${n}`, subnet: `10.244.${n}.0/24`, publicIp: ip, backendType: 'vxlan', backendData: { VNI: 1, VtepMAC: `aa:bb:cc:00:00:0${n}` }, value: '' });
    const ms = peerStateMismatches({
      backend: { type: 'vxlan', vni: 1, directRouting: true } as never, node: 'node1', iface: 'eth0', network: '10.244.0.0/16',
      peers: [{ name: 'node2', lease: lease(2, '10.77.1.12') }, { name: 'far', lease: lease(3, '10.88.0.13') }],
      routes: [
        { dst: '10.77.1.0/24', dev: 'eth0', onlink: false },
        { dst: 'default', gateway: '10.77.1.1', dev: 'eth0', onlink: false },
        { dst: '10.244.2.0/24', gateway: '10.77.1.12', onlink: false },
        { dst: '10.244.3.0/24', gateway: '10.244.3.0', dev: 'flannel.1', onlink: true },
      ],
      neigh: [{ dst: '10.244.3.0', lladdr: OLD_MAC, state: ['PERMANENT'] }],
      fdb: [{ mac: OLD_MAC, dst: '10.88.0.13' }],
    });
    expect(ms.map((m) => `${m.peer} ${m.item}: ${m.kernel} / ${m.lease}`)).toEqual([
      `far neighbour: 10.244.3.0 lladdr ${OLD_MAC} / 10.244.3.0 lladdr aa:bb:cc:00:00:03`,
      `far fdb: ${OLD_MAC} dst 10.88.0.13 / aa:bb:cc:00:00:03 dst 10.88.0.13`,
    ]);
  });
});
