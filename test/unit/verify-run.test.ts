import { describe, expect, it } from 'vitest';
import { EtcdError, ExitCode, SshError, exitCodeOf } from '../../src/errors.js';
import { failureNames } from '../../src/verify/matrix.js';
import { PING_SCRIPT, PING_TAG } from '../../src/verify/probes.js';
import { runVerify, verifyExitCode } from '../../src/verify/verify.js';
import { simCluster, type SimNode } from './verify-fakes.js';
import { cachingConnector, FACTS_TAG } from '../../src/connector/facts.js';

const pingCalls = (s: SimNode) => s.conn.calls.filter((c) => c.op === 'exec' && c.argv[2] === PING_SCRIPT && c.argv[3] === PING_TAG) as Array<{ argv: string[] }>;

describe('runVerify on a simulated cluster', () => {
  it('a healthy vxlan cluster: 6 ok pairs with RTTs, all checks ok, one ping command per node, exit 0', async () => {
    const sim = await simCluster({ nodes: 3 });
    const report = await runVerify(sim.inv, sim.pool, sim.kv, {});
    expect(report.pairs).toHaveLength(6);
    expect(report.pairs.every((p) => p.ok && typeof p.rttMs === 'number')).toBe(true);
    expect(report.pairs.find((p) => p.from === 'node1' && p.to === 'node3')).toMatchObject({ target: '10.244.3.0', rttMs: 0.35, error: null });
    expect(report.checks.filter((c) => !c.ok)).toEqual([]);
    expect(new Set(report.checks.map((c) => c.name))).toEqual(new Set(['service', 'subnet.env', 'lease', 'flannel.1', 'peers', 'routes', 'iptables', 'healthz']));
    expect(report.summary).toEqual({ pairs: 6, pairsOk: 6, checks: 24, checksOk: 24 });
    expect(report.ok).toBe(true);
    expect(verifyExitCode(report)).toBe(ExitCode.ok);
    for (const s of sim.nodes) {
      const calls = pingCalls(s);
      expect(calls).toHaveLength(1);
      expect(calls[0].argv.slice(6).sort()).toEqual(sim.nodes.filter((p) => p !== s).map((p) => p.subnet.replace('/24', '')).sort());
    }
    expect(sim.kv.writes).toEqual([]);
  });

  it('with the facts batch: one round trip per node carries the reads, /healthz and (vxlan) the pings; host-gw pings after it', async () => {
    for (const backend of ['vxlan', 'host-gw'] as const) {
      const sim = await simCluster({ nodes: 3, backend, bridges: backend === 'host-gw' });
      const cached = new Map(sim.nodes.map((s) => [s.name, cachingConnector(s.conn)]));
      const report = await runVerify(sim.inv, { get: async (name) => cached.get(name)! }, sim.kv, {});
      expect(report.ok).toBe(true);
      expect(report.pairs.filter((p) => p.ok)).toHaveLength(6);
      for (const s of sim.nodes) {
        const execs = s.conn.execs();
        const batch = execs[0];
        expect(batch[3]).toBe(FACTS_TAG);
        expect(batch.some((c) => c.includes('flanctl-healthz'))).toBe(true);
        if (backend === 'vxlan') {
          expect(execs).toHaveLength(1);
          expect(batch.some((c) => c.includes(PING_TAG))).toBe(true);
          expect(cached.get(s.name)!.stats.served).toBeGreaterThan(1);
        } else {
          // The bridge addresses come from the facts: the pings are a second command.
          expect(batch.some((c) => c.includes(PING_TAG))).toBe(false);
          expect(pingCalls(s)).toHaveLength(1);
        }
      }
    }
  });

  it('flanneld stopped on node2 and a route deleted on node1: exit 3, and the failures are named', async () => {
    const sim = await simCluster({ nodes: 3 });
    sim.nodes[1].running = false;
    sim.nodes[0].routes = sim.nodes[0].routes.filter((r) => r.dst !== '10.244.3.0/24');
    const report = await runVerify(sim.inv, sim.pool, sim.kv, {});
    expect(report.ok).toBe(false);
    expect(verifyExitCode(report)).toBe(ExitCode.drift);
    const names = failureNames(report);
    expect(names).toEqual(expect.arrayContaining(['node2: service', 'node2: healthz', 'node1: peers', 'node1 → node3', 'node3 → node1']));
    expect(names).toHaveLength(5);
    expect(report.checks.find((c) => c.node === 'node1' && c.name === 'peers')?.detail).toContain('node3 (10.244.3.0/24) route: kernel has no route, lease says 10.244.3.0/24 via 10.244.3.0 dev flannel.1 onlink');
    expect(report.checks.find((c) => c.node === 'node2' && c.name === 'service')?.detail).toContain('STOPPED');
    expect(report.pairs.find((p) => p.from === 'node1' && p.to === 'node3')?.error).toBe('no reply within 1 s');
  });

  it('flags a stale route and a missing iptables rule', async () => {
    const sim = await simCluster({ nodes: 2 });
    sim.nodes[0].routes.push({ dst: '10.244.77.0/24', gateway: '10.244.77.0', dev: 'flannel.1', flags: ['onlink'] });
    sim.nodes[1].iptables.delete([...sim.nodes[1].iptables].find((r) => r.startsWith('nat'))!);
    const report = await runVerify(sim.inv, sim.pool, sim.kv, {});
    expect(report.checks.find((c) => c.node === 'node1' && c.name === 'routes')).toMatchObject({ ok: false, detail: expect.stringContaining('stale 10.244.77.0/24') });
    expect(report.checks.find((c) => c.node === 'node2' && c.name === 'iptables')).toMatchObject({ ok: false, detail: expect.stringContaining('MASQUERADE') });
    expect(report.pairs.every((p) => p.ok)).toBe(true);
  });

  it('etcd unreachable: EtcdError (exit 1), and no command runs on any node', async () => {
    const sim = await simCluster({ nodes: 2 });
    sim.kv.failWith(new Error('14 UNAVAILABLE: connect ECONNREFUSED 127.0.0.1:2379'));
    const err = await runVerify(sim.inv, sim.pool, sim.kv, {}).catch((e) => e);
    expect(err).toBeInstanceOf(EtcdError);
    expect(exitCodeOf(err)).toBe(ExitCode.failure);
    expect(sim.nodes.flatMap((n) => n.conn.calls)).toEqual([]);
  });

  it('the SSH connects start before the lease read ends: a lease read that waits for every node to be asked for still completes', async () => {
    const sim = await simCluster({ nodes: 4 });
    const asked = new Set<string>();
    let allAsked!: () => void;
    const everyNode = new Promise<void>((r) => (allAsked = r));
    const pool = {
      get: (name: string) => {
        asked.add(name);
        if (asked.size === sim.nodes.length) allAsked();
        return sim.pool.get(name);
      },
    };
    const kv = { ...sim.kv, list: async (prefix: string, o?: { ttl?: boolean }) => (await everyNode, sim.kv.list(prefix, o)) };
    const report = await runVerify(sim.inv, pool, kv, {});
    expect(report.ok).toBe(true);
    expect(report.pairs).toHaveLength(12);
  });

  it('etcd and SSH both failing: the etcd error is the one reported, whichever fails first', async () => {
    for (const sshFirst of [true, false]) {
      const sim = await simCluster({ nodes: 3 });
      let sshFailed!: () => void;
      const sshDone = new Promise<void>((r) => (sshFailed = r));
      const pool = {
        get: async (name: string) => {
          if (name !== 'node2') return sim.pool.get(name);
          if (!sshFirst) await new Promise((r) => setTimeout(r, 20));
          sshFailed();
          throw new Error('connect ECONNREFUSED 10.77.1.12:22');
        },
      };
      const kv = {
        ...sim.kv,
        list: async () => {
          if (sshFirst) await sshDone;
          throw new Error('14 UNAVAILABLE: connect ECONNREFUSED 127.0.0.1:2379');
        },
      };
      const err = await runVerify(sim.inv, pool, kv, {}).catch((e) => e);
      expect(err, `ssh fails ${sshFirst ? 'first' : 'last'}`).toBeInstanceOf(EtcdError);
      expect(exitCodeOf(err)).toBe(ExitCode.failure);
      expect(sim.nodes.flatMap((n) => n.conn.calls)).toEqual([]);
    }
  });

  it('SSH unreachable: SshError (exit 1) naming the node, and no pings run', async () => {
    const sim = await simCluster({ nodes: 3 });
    const pool = { get: async (name: string) => (name === 'node3' ? Promise.reject(new Error('connect ETIMEDOUT 10.77.1.13:22')) : sim.pool.get(name)) };
    const err = await runVerify(sim.inv, pool, sim.kv, {}).catch((e) => e);
    expect(err).toBeInstanceOf(SshError);
    expect(exitCodeOf(err)).toBe(ExitCode.failure);
    expect(err.message).toContain('node3: connect ETIMEDOUT');
    expect(sim.nodes.flatMap(pingCalls)).toEqual([]);
  });

  it('etcd failing while a node is still connecting: the etcd error at once, not after that connect', async () => {
    const sim = await simCluster({ nodes: 2 });
    sim.kv.failWith(new Error('14 UNAVAILABLE: connect ECONNREFUSED 127.0.0.1:2379'));
    const pool = { get: (name: string) => (name === 'node2' ? new Promise<never>(() => {}) : sim.pool.get(name)) };
    const err = await runVerify(sim.inv, pool, sim.kv, {}).catch((e) => e);
    expect(err).toBeInstanceOf(EtcdError);
    expect(sim.nodes.flatMap((n) => n.conn.calls)).toEqual([]);
  });

  it('SSH failing on one node while the leases are still being read: SshError once they are read, no pings', async () => {
    const sim = await simCluster({ nodes: 3 });
    let failed!: () => void;
    const sshFailed = new Promise<void>((r) => (failed = r));
    const pool = {
      get: async (name: string) => {
        if (name !== 'node1') return sim.pool.get(name);
        failed();
        throw new Error('All configured authentication methods failed');
      },
    };
    const kv = { ...sim.kv, list: async (prefix: string, o?: { ttl?: boolean }) => (await sshFailed, sim.kv.list(prefix, o)) };
    const err = await runVerify(sim.inv, pool, kv, {}).catch((e) => e);
    expect(err).toBeInstanceOf(SshError);
    expect(exitCodeOf(err)).toBe(ExitCode.failure);
    expect(err.message).toMatch(/verify cannot reach 1 node:\n {2}node1: All configured authentication methods failed/);
    expect(sim.nodes.flatMap(pingCalls)).toEqual([]);
  });

  it('--mtu: a node whose path MTU is below FLANNEL_MTU fails the mtu check, the others pass', async () => {
    const sim = await simCluster({ nodes: 3 });
    sim.nodes[0].mtu = 1400; // flannel.1 1350, but subnet.env still says 1450
    const report = await runVerify(sim.inv, sim.pool, sim.kv, { mtu: true });
    const mtu = report.checks.filter((c) => c.name === 'mtu');
    expect(mtu.map((c) => [c.node, c.ok])).toEqual([['node1', false], ['node2', true], ['node3', true]]);
    expect(mtu[0].detail).toMatch(/1450-byte packets with DF lost to node2 \(10\.244\.2\.0\)/);
    const big = pingCalls(sim.nodes[1]).find((c) => c.argv[5] !== '0');
    expect(big?.argv[5]).toBe('1422');
  });
});

describe('runVerify with host-gw', () => {
  it('without --probe and without bridges: every pair is "no target" with the hint, exit 3', async () => {
    const sim = await simCluster({ nodes: 3, backend: 'host-gw' });
    const report = await runVerify(sim.inv, sim.pool, sim.kv, {});
    expect(report.pairs.every((p) => !p.ok && p.target === null && /--probe/.test(p.error!))).toBe(true);
    expect(report.probes).toEqual([]);
    expect(report.checks.filter((c) => !c.ok)).toEqual([]);
    expect(verifyExitCode(report)).toBe(ExitCode.drift);
  });

  it('--probe: adds flanctl-probe (bridge when dummy fails), pings from the .1, removes it afterwards', async () => {
    const sim = await simCluster({ nodes: 3, backend: 'host-gw' });
    const report = await runVerify(sim.inv, sim.pool, sim.kv, { probe: true });
    expect(report.ok).toBe(true);
    expect(report.pairs.map((p) => p.target)).toContain('10.244.2.1');
    expect(report.probes).toHaveLength(3);
    expect(report.probes.every((p) => p.linkType === 'bridge' && p.created && p.removed)).toBe(true);
    expect(sim.nodes.every((s) => s.probe === undefined)).toBe(true);
    expect(pingCalls(sim.nodes[0])[0].argv[4]).toBe('10.244.1.1');
    const execs = sim.nodes[0].conn.execs().map((a) => a.join(' '));
    // One round trip adds it: the script tries dummy, then bridge, adds the /32, sets it up.
    expect(execs.filter((e) => e.startsWith('sh -c ') && e.endsWith(' flanctl-probe flanctl-probe 10.244.1.1'))).toHaveLength(1);
    expect(execs.at(-1)).toBe('ip link del flanctl-probe');
  });

  it('--probe uses dummy where the kernel has it; the probe goes even when the ping command blows up', async () => {
    const sim = await simCluster({ nodes: 2, backend: 'host-gw', dummy: true });
    sim.nodes[0].conn.on((argv) => argv[0] === 'sh' && argv[3] === PING_TAG, () => {
      throw new Error('channel closed');
    });
    const report = await runVerify(sim.inv, sim.pool, sim.kv, { probe: true });
    expect(report.probes.map((p) => p.linkType)).toEqual(['dummy', 'dummy']);
    expect(sim.nodes.every((s) => s.probe === undefined)).toBe(true);
    expect(report.pairs.find((p) => p.from === 'node1')?.error).toContain('ping script failed: channel closed');
    expect(report.pairs.find((p) => p.from === 'node2')?.ok).toBe(true);
  });

  it('with docker0 bridges holding .1: no probes, pings use the bridge address as source', async () => {
    const sim = await simCluster({ nodes: 2, backend: 'host-gw', bridges: true });
    const report = await runVerify(sim.inv, sim.pool, sim.kv, { probe: true });
    expect(report.ok).toBe(true);
    expect(report.probes).toEqual([]);
    expect(pingCalls(sim.nodes[1])[0].argv.slice(4)).toEqual(['10.244.2.1', '0', '10.244.1.1']);
  });
});
