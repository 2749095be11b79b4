import { describe, expect, it } from 'vitest';
import { EtcdError, HostKeyError } from '../../src/errors.js';
import { memoryKv } from '../../src/kv/memory.js';
import { PreflightError, preflight } from '../../src/bootstrap/preflight.js';
import { binaryFromBuffer } from '../../src/steps/binary.js';
import { inventoryYaml, simCluster, testInventory } from './bootstrap-fakes.js';
import { cachingConnector, FACTS_TAG } from '../../src/connector/facts.js';

const tarball = { file: 'f.tgz', flanneld: binaryFromBuffer(Buffer.from('x')) };

describe('preflight', () => {
  it('passes on healthy nodes without running anything that changes a host', async () => {
    const sim = simCluster(await testInventory(inventoryYaml({ nodes: 3 })));
    const r = await preflight(sim.inv, {
      connect: async (n) => sim.node(n.name).conn,
      openKv: async () => sim.kv,
      readTarball: async () => tarball,
      concurrency: 2,
    });
    expect(r.problems).toEqual([]);
    const all = [...sim.nodes.values()].flatMap((n) => n.conn.execs());
    const changing = all.filter((a) => ['mkdir', 'chmod', 'iptables', 'sysctl', 'systemctl', 'modprobe'].includes(a[0]) && !a.includes('--version') && !a.includes('-n') && !a.includes('-S'));
    expect(changing).toEqual([]);
    expect([...sim.nodes.values()].every((n) => n.conn.writes().length === 0)).toBe(true);
  });

  it('collects every problem on every node and the control side at once', async () => {
    const sim = simCluster(await testInventory(inventoryYaml({ nodes: 4 })), { supervisordRunning: false });
    const n2 = sim.node('node2');
    n2.conn.on(['iptables', '--version'], { code: 127, stderr: 'sh: iptables: not found' });
    n2.dirs.delete('/sys/module/vxlan');
    n2.conn.on(['ip', '-o', '-4', 'addr', 'show', 'dev'], { code: 1, stderr: 'Device "eth0" does not exist.' });
    sim.node('node3').conn.on(['id', '-u'], { stdout: '1000\n' });
    const r = await preflight(sim.inv, {
      connect: async (n) => {
        if (n.name === 'node4') throw new HostKeyError('node4 (10.77.0.14): host key CHANGED — refusing to connect');
        return sim.node(n.name).conn;
      },
      openKv: async () => {
        throw new EtcdError('https://10.77.0.1:2379: connection refused');
      },
      readTarball: async () => {
        throw new Error('flannel tarball /x/f.tgz does not exist');
      },
      concurrency: 10,
    });
    const by = (t: string) => r.problems.filter((p) => p.target === t).map((p) => p.message);
    expect(by('node1')).toEqual([expect.stringMatching(/supervisord is not running/)]);
    expect(by('node2')).toEqual([
      expect.stringMatching(/`iptables` is not installed/),
      expect.stringMatching(/supervisord is not running/),
      expect.stringMatching(/kernel module vxlan/),
      expect.stringMatching(/interface eth0 does not exist/),
    ]);
    expect(by('node3')).toEqual([expect.stringMatching(/not run as root/)]);
    expect(by('node4')).toEqual([expect.stringMatching(/host key CHANGED/)]);
    expect(by('etcd')).toEqual([expect.stringMatching(/connection refused/)]);
    expect(by('tarball')).toEqual([expect.stringMatching(/does not exist/)]);
    const err = new PreflightError(r.problems);
    expect(err.exitCode).toBe(1);
    expect(err.message).toMatch(/preflight found 9 problems; nothing was changed/);
    expect(err.message.indexOf('node1')).toBeLessThan(err.message.indexOf('node4'));
  });

  it('names the public IP the iface lacks, and a missing flanneld cert is issued before etcd is tried', async () => {
    const sim = simCluster(await testInventory(inventoryYaml()));
    sim.node('node1').conn.on(['ip', '-o', '-4', 'addr', 'show', 'dev'], { stdout: '2: eth0    inet 192.168.1.5/24 scope global eth0\n' });
    const order: string[] = [];
    const r = await preflight(sim.inv, {
      connect: async (n) => sim.node(n.name).conn,
      ensureCert: async () => order.push('cert'),
      openKv: async () => (order.push('kv'), memoryKv()),
      readTarball: async () => tarball,
      concurrency: 2,
    });
    expect(r.problems).toEqual([{ target: 'node1', message: expect.stringMatching(/does not carry the public IP 10.77.0.11 \(it has 192.168.1.5/) }]);
    expect(order).toEqual(['cert', 'kv']);
  });

  it('each node is asked in one batch as soon as etcd answered, while the tarball is still being read; problems keep their order', async () => {
    const sim = simCluster(await testInventory(inventoryYaml({ nodes: 2 })));
    const cached = new Map([...sim.nodes.values()].map((n) => [n.spec.name, cachingConnector(n.conn)]));
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const batchesBeforeTarball: string[] = [];
    const readsGot: Array<unknown> = [];
    const kv = memoryKv();
    const running = preflight(sim.inv, {
      connect: async (n) => cached.get(n.name)!,
      openKv: async () => kv,
      readTarball: async () => {
        await gate;
        batchesBeforeTarball.push(...[...sim.nodes.values()].filter((n) => n.conn.execs().some((a) => a[3] === FACTS_TAG)).map((n) => n.spec.name));
        throw new Error('flannel tarball /x/f.tgz cannot be read: unexpected end of file');
      },
      spacePaths: () => ['/opt/flannel/bin/flanneld'],
      reads: async (_node, got) => (readsGot.push(got.kv), [['cat', '/etc/hostname']]),
      concurrency: 2,
    });
    // Both nodes' batches go out before the tarball is done.
    for (let i = 0; i < 50 && [...sim.nodes.values()].some((n) => !n.conn.execs().some((a) => a[3] === FACTS_TAG)); i++) await new Promise((r) => setTimeout(r, 5));
    release();
    const r = await running;
    expect(batchesBeforeTarball.sort()).toEqual(['node1', 'node2']);
    expect(readsGot).toEqual([kv, kv]);
    const batch = sim.node('node1').conn.execs().find((a) => a[3] === FACTS_TAG)!;
    expect(batch.some((c) => c.includes('flanctl-space') && c.includes('/opt/flannel/bin/flanneld'))).toBe(true);
    expect(batch).toContain("cat /etc/hostname");
    expect(r.problems).toEqual([{ target: 'tarball', message: expect.stringMatching(/unexpected end of file/) }]);
  });
});
