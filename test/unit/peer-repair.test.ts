/**
 * The stale-peer-state repair (bootstrap/peer-repair.ts) on the simulated verify cluster: stale nodes
 * restart together in one round; a restart keeps the lease (checked, not assumed); a round that does
 * not converge falls back to smaller batches; rounds are bounded; nothing restarts while a lease is
 * not current.
 */
import { describe, expect, it } from 'vitest';
import type { Connector } from '../../src/connector/connector.js';
import { describeRepair, observePeerState, repairPeerState, type PeerRepairDeps, type PeerRepairReport } from '../../src/bootstrap/peer-repair.js';
import { peerStateStep, type PeerRepairCoordinator } from '../../src/bootstrap/peer-step.js';
import { simCluster, type Sim, type SimNode } from './verify-fakes.js';

const PREFIX = '/coreos.com/network';
const leaseKeyOf = (s: SimNode) => `${PREFIX}/subnets/${s.subnet.replace('/', '-')}`;

/** flanneld on `s` (re)starts: it lists every lease and programs route, neighbour and FDB entry per peer. */
async function program(sim: Sim, s: SimNode) {
  s.routes = s.routes.filter((r) => !String(r.dst).startsWith('10.244.'));
  s.neigh = [];
  s.fdb = [];
  for (const [k, v] of sim.kv.data) {
    if (!k.startsWith(`${PREFIX}/subnets/`)) continue;
    const l = JSON.parse(v) as { PublicIP: string; BackendData: { VtepMAC: string } };
    if (l.PublicIP === s.ip) continue;
    const subnet = k.slice(k.lastIndexOf('/') + 1).replace('-', '/');
    const gw = subnet.replace(/\/24$/, '');
    s.routes.push({ dst: subnet, gateway: gw, dev: 'flannel.1', flags: ['onlink'] });
    s.neigh.push({ dst: gw, lladdr: l.BackendData.VtepMAC, state: ['PERMANENT'] });
    s.fdb.push({ mac: l.BackendData.VtepMAC, dst: l.PublicIP });
  }
}

/** `s` recreated flannel.1 (new MAC) and rewrote its lease; the nodes in `missed` never saw the event. */
function recreate(sim: Sim, s: SimNode, mac: string, missed: SimNode[]) {
  s.mac = mac;
  const key = leaseKeyOf(s);
  sim.kv.data.set(key, JSON.stringify({ ...JSON.parse(sim.kv.data.get(key)!), BackendData: { VNI: 1, VtepMAC: mac } }));
  for (const o of sim.nodes) if (o !== s && !missed.includes(o)) void program(sim, o);
}

function deps(sim: Sim, restart: (s: SimNode) => Promise<void>, extra: Partial<PeerRepairDeps> = {}): PeerRepairDeps & { active: number; maxActive: number; restarts: string[] } {
  let clock = 0;
  const d = {
    active: 0,
    maxActive: 0,
    restarts: [] as string[],
    get: async (name: string) => sim.nodes.find((s) => s.name === name)!.conn as Connector,
    kv: sim.kv,
    restart: async (_c: Connector, _i: unknown, n: { name: string }) => {
      const s = sim.nodes.find((x) => x.name === n.name)!;
      d.active++;
      d.maxActive = Math.max(d.maxActive, d.active);
      d.restarts.push(n.name);
      await new Promise((r) => setTimeout(r, 5));
      await restart(s);
      d.active--;
    },
    now: () => clock,
    sleep: async (ms: number) => {
      clock += ms;
    },
    concurrency: 10,
    settleMs: 1000,
    roundTimeoutMs: 1000,
    ...extra,
  };
  return d;
}

/** The state: node2 and node3 recreated flannel.1; node1 missed both, node2 missed node3. */
async function staleCluster() {
  const sim = await simCluster({ nodes: 3 });
  const [n1, n2, n3] = sim.nodes;
  recreate(sim, n2, 'aa:bb:cc:00:01:02', [n1]);
  recreate(sim, n3, 'aa:bb:cc:00:01:03', [n1, n2]);
  return sim;
}

describe('repairPeerState', () => {
  it('finds each stale node with its peers, and repairs them together in one round', async () => {
    const sim = await staleCluster();
    const d = deps(sim, (s) => program(sim, s));
    const snap = await observePeerState(sim.inv, d);
    expect([...snap.stale.keys()]).toEqual(['node1', 'node2']);
    expect(snap.stale.get('node1')!.map((m) => `${m.peer} ${m.item}`)).toEqual(['node2 neighbour', 'node2 fdb', 'node3 neighbour', 'node3 fdb']);
    expect(snap.notCurrent).toEqual([]);
    const leasesBefore = new Map(sim.kv.data);

    const r = await repairPeerState(sim.inv, d);
    expect(r).toMatchObject({ ok: true, found: { node1: ['node2', 'node3'], node2: ['node3'] }, restarted: ['node1', 'node2'], remaining: {} });
    expect(r.rounds).toEqual([expect.objectContaining({ batchSize: 2, restarted: ['node1', 'node2'], failed: [], leaseChanged: [], stale: {} })]);
    expect(d.maxActive).toBe(2); // both restarts in flight at once
    expect(new Map(sim.kv.data)).toEqual(leasesBefore); // a restart rewrote no lease
    expect(describeRepair(r)).toMatch(/^flanneld restarted for stale peer state on node1 \(node2, node3\), node2 \(node3\): 1 round, /);
    expect((await observePeerState(sim.inv, d)).stale.size).toBe(0);
  });

  it('a later look with the same leases reads only the nodes that were not clean; a lease change reads every node again', async () => {
    const sim = await staleCluster();
    const d = deps(sim, (s) => program(sim, s));
    const batches = () => sim.nodes.map((s) => s.conn.execs().length);
    const first = await observePeerState(sim.inv, d);
    expect([...first.dirty!].sort()).toEqual(['node1', 'node2']);
    const before = batches();
    const second = await observePeerState(sim.inv, d, first);
    const read = batches().map((n, i) => n - before[i]);
    expect(read[2]).toBe(0); // node3 was clean and no lease changed: not asked again
    expect(read[0]).toBeGreaterThan(0);
    expect(read[1]).toBeGreaterThan(0);
    expect([...second.stale.keys()]).toEqual(['node1', 'node2']);
    // node3 rewrites its lease (new MAC) and node1, node2 miss it: everyone is looked at again.
    recreate(sim, sim.nodes[2], 'aa:bb:cc:00:01:09', [sim.nodes[0], sim.nodes[1]]);
    const mid = batches();
    await observePeerState(sim.inv, d, second);
    expect(batches().every((n, i) => n > mid[i])).toBe(true);
  });

  it('a busy node still adding its peers (progress between looks) is waited for, not restarted', async () => {
    const sim = await simCluster({ nodes: 3 });
    const n1 = sim.nodes[0];
    const full = { routes: [...n1.routes], neigh: [...n1.neigh], fdb: [...n1.fdb] };
    const keep = (k: number) => {
      n1.routes = full.routes.filter((r) => !String(r.dst).startsWith('10.244.') || full.routes.filter((x) => String(x.dst).startsWith('10.244.')).indexOf(r) < k);
      n1.neigh = full.neigh.slice(0, k);
      n1.fdb = full.fdb.slice(0, k);
    };
    keep(0);
    let sleeps = 0;
    const d = deps(sim, (s) => program(sim, s));
    const sleep = d.sleep;
    // One more peer programmed every 4 looks (1 s): slower than the settle time (1 s) alone allows.
    d.sleep = async (ms) => {
      await sleep(ms);
      sleeps++;
      if (sleeps % 4 === 0) keep(sleeps / 4);
    };
    const r = await repairPeerState(sim.inv, d);
    expect(r).toMatchObject({ ok: true, found: {}, restarted: [] });
    expect(sleeps).toBeGreaterThanOrEqual(8);
    expect(d.restarts).toEqual([]);
  });

  it('nothing stale: no restart, no round', async () => {
    const sim = await simCluster({ nodes: 3 });
    const d = deps(sim, (s) => program(sim, s));
    const r = await repairPeerState(sim.inv, d);
    expect(r).toMatchObject({ ok: true, found: {}, rounds: [], restarted: [] });
    expect(d.restarts).toEqual([]);
    expect(describeRepair(r)).toBeUndefined();
  });

  it('a round that does not converge falls back to smaller batches', async () => {
    const sim = await staleCluster();
    // node1's flanneld, restarted alongside another node, comes up stale again (once).
    let flaky = true;
    const d = deps(sim, async (s) => {
      if (s.name === 'node1' && flaky && d.active > 1) {
        flaky = false;
        return;
      }
      await program(sim, s);
    });
    const r = await repairPeerState(sim.inv, d);
    expect(r.ok).toBe(true);
    expect(r.rounds.map((x) => [x.batchSize, x.restarted])).toEqual([[2, ['node1', 'node2']], [1, ['node1']]]);
    expect(r.rounds[0].stale).toEqual({ node1: ['node2', 'node3'] });
  });

  it('a restart that changes a lease is detected and forces smaller batches', async () => {
    const sim = await staleCluster();
    let changed = false;
    const d = deps(sim, async (s) => {
      if (s.name === 'node2' && !changed) {
        changed = true;
        recreate(sim, s, 'aa:bb:cc:00:02:02', sim.nodes); // nobody learns: as if the event was dropped
      }
      await program(sim, s);
    });
    const r = await repairPeerState(sim.inv, d);
    expect(r.rounds[0]).toMatchObject({ batchSize: 2, leaseChanged: ['node2'] });
    expect(r.rounds[1].batchSize).toBe(1);
    expect(r.ok).toBe(true);
  });

  it('rounds are bounded: a node that never heals is named with what remains', async () => {
    const sim = await staleCluster();
    const d = deps(sim, async (s) => {
      if (s.name !== 'node2') await program(sim, s);
    }, { maxRounds: 3 });
    const r = await repairPeerState(sim.inv, d);
    expect(r.ok).toBe(false);
    expect(r.rounds.map((x) => x.batchSize)).toEqual([2, 1, 1]);
    expect(r.remaining).toEqual({ node2: ['node3'] });
    expect(r.problem).toBe('still stale after 3 round(s): node2 (node3)');
    expect(describeRepair(r)).toContain('but still stale after 3 round(s)');
  });

  it('does not restart while a peer\'s lease is not current (VtepMAC ≠ its flannel.1)', async () => {
    const sim = await staleCluster();
    sim.nodes[2].mac = 'aa:bb:cc:00:09:09'; // node3 recreated flannel.1 but has not rewritten its lease yet
    const d = deps(sim, (s) => program(sim, s));
    const r = await repairPeerState(sim.inv, d);
    expect(d.restarts).toEqual([]);
    expect(r.ok).toBe(false);
    expect(r.problem).toMatch(/^not restarting: leases not current \(node3: lease VtepMAC aa:bb:cc:00:01:03, its flannel device has aa:bb:cc:00:09:09\)/);
  });
});

describe('peerStateStep (bootstrap, plan)', () => {
  const mismatch = { node: 'node1', peer: 'node2', subnet: '10.244.2.0/24', item: 'neighbour' as const, kernel: '10.244.2.0 lladdr de:ad:be:ef:00:02', lease: '10.244.2.0 lladdr aa:bb:cc:00:00:02' };
  const coord = (report: Partial<PeerRepairReport>): PeerRepairCoordinator => {
    const full: PeerRepairReport = { found: { node1: ['node2'] }, mismatches: [mismatch], rounds: [], restarted: ['node1'], remaining: {}, ok: true, durationMs: 1, ...report };
    return {
      snapshot: async () => ({ leases: [], stale: new Map([['node1', [mismatch]]]), notCurrent: [], unreadable: [] }),
      repair: async () => full,
      report: async () => full,
    };
  };
  const ctx = (name: string) => ({ inventory: {} as never, node: { name } as never, touched: new Set<string>() });

  it('a stale node gets `↻ flanneld (stale peer state: node2)` with kernel/lease as the diff; a clean node none', async () => {
    const step = peerStateStep(coord({}));
    const c = await step.check(ctx('node1'));
    expect(c).toMatchObject({ action: 'restart', summary: '(stale peer state: node2)', diff: { before: 'node2 neighbour: 10.244.2.0 lladdr de:ad:be:ef:00:02', after: 'node2 neighbour: 10.244.2.0 lladdr aa:bb:cc:00:00:02' } });
    await expect(c!.apply()).resolves.toBeUndefined();
    expect(await step.check(ctx('node2'))).toBeUndefined();
  });

  it('apply fails naming what is still stale when the repair did not converge', async () => {
    const c = await peerStateStep(coord({ ok: false, remaining: { node1: ['node2'] }, problem: 'still stale after 4 round(s): node1 (node2)' })).check(ctx('node1'));
    await expect(c!.apply()).rejects.toThrow('node1: stale peer state not repaired (still stale after 4 round(s): node1 (node2)); still stale for node2');
  });
});
