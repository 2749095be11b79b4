/**
 * The flanneld stand-in on a real 3-node lab (namespaces, TLS etcd): vxlan connectivity, lease format and
 * TTL, restart keeps the subnet, lease deletion → exit 0, host-gw after stop/clean/start, etcd v2 mode.
 * The stand-in tarballs are uploaded into each node's own filesystem (nodes do not see the host's /tmp).
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startLab, type TestLab } from '../helpers/lab.js';
import { describeRoot } from '../helpers/root.js';
import { STANDIN_TLS_DIR, standinDriver } from '../helpers/standin-driver.js';

const root = join(import.meta.dirname, '..', '..');
const tarballs = {
  'v0.20.2': join(root, 'lab', 'dist', 'flannel-v0.20.2-standin-linux-amd64.tar.gz'),
  'v0.11.0': join(root, 'lab', 'dist', 'flannel-v0.11.0-standin-linux-amd64.tar.gz'),
  'v0.22.3': join(root, 'lab', 'dist', 'flannel-v0.22.3-standin-linux-amd64.tar.gz'),
};
const PREFIX = '/coreos.com/network';

describeRoot('flanneld stand-in on a 3-node lab', () => {
  let lab: TestLab;
  const d = standinDriver(() => lab);
  const { etcdctl, exec, upload, waitFor, cat, start, running, exitStatus, stop, subnetEnv, routes, leaseSubnet } = d;

  beforeAll(async () => {
    for (const t of Object.values(tarballs)) {
      if (!existsSync(t)) throw new Error(`${t} is missing: run \`npm run build\` first`);
    }
    lab = await startLab({ nodes: 3 });
    const tls = lab.etcdTls;
    const TLS_DIR = STANDIN_TLS_DIR;
    await Promise.all(
      lab.nodes.map(async ({ name }) => {
        await upload(name, `${TLS_DIR}/ca.pem`, readFileSync(tls.ca), '0644');
        await upload(name, `${TLS_DIR}/client.pem`, readFileSync(tls.cert), '0644');
        await upload(name, `${TLS_DIR}/client-key.pem`, readFileSync(tls.key), '0600');
        for (const [version, file] of Object.entries(tarballs)) {
          await upload(name, `/opt/standin/${version}.tar.gz`, readFileSync(file), '0644');
          await exec(name, ['sh', '-c', 'mkdir -p "$1" && tar -xzf "$1.tar.gz" -C "$1"', 'sh', `/opt/standin/${version}`]);
        }
      }),
    );
  });

  afterAll(async () => {
    if (!lab) return;
    for (const node of d.started) {
      await lab.exec(node, ['sh', '-c', 'kill -TERM "$(cat /run/standin.pid)"']).catch(() => undefined);
    }
    await lab.down();
  });

  it('is labelled as test equipment in -version (stderr) and in the first log line', async () => {
    const r = await lab.exec('node1', ['node', '/opt/standin/v0.20.2/flanneld', '-version']);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('');
    expect(r.stderr.split('\n')[0]).toBe('v0.20.2');
    expect(r.stderr).toContain('TEST EQUIPMENT');
    const old = await lab.exec('node1', ['node', '/opt/standin/v0.11.0/flanneld', '--version']);
    expect(old.stderr.split('\n')[0]).toBe('v0.11.0');
    const fixed = await lab.exec('node1', ['node', '/opt/standin/v0.22.3/flanneld', '-version']);
    expect(fixed.stderr.split('\n')[0]).toBe('v0.22.3');
  });

  it('vxlan: every node pings every other node\'s flannel.1 address', async () => {
    // Started before the config exists: it waits, logging flanneld's message, then carries on.
    await start('node1', 'v0.20.2', [], false);
    await waitFor('node1 to wait for the config', async () =>
      (await cat('node1', '/var/log/standin.log'))?.includes('Couldn\'t fetch network config: flannel config not found in etcd store'));
    await etcdctl(['put', `${PREFIX}/config`, '{"Network":"10.244.0.0/16","Backend":{"Type":"vxlan"}}']);
    await running('node1');
    for (const n of lab.nodes.slice(1)) await start(n.name);
    const subnets = new Map<string, string>();
    for (const n of lab.nodes) subnets.set(n.name, leaseSubnet((await subnetEnv(n.name)).FLANNEL_SUBNET));
    expect(new Set(subnets.values()).size).toBe(3);
    const log = await cat('node1', '/var/log/standin.log');
    expect(log?.split('\n')[0]).toContain('TEST EQUIPMENT');
    for (const a of lab.nodes) {
      const peers = lab.nodes.filter((b) => b.name !== a.name);
      await waitFor(`${a.name} routes to its peers`, async () => {
        const rs = await routes(a.name);
        return peers.every((p) => rs.some((r) => r.dst === subnets.get(p.name) && r.dev === 'flannel.1' && r.flags.includes('onlink')));
      });
    }
    for (const a of lab.nodes) {
      for (const p of lab.nodes.filter((b) => b.name !== a.name)) {
        const target = subnets.get(p.name)!.replace('/24', '');
        const r = await lab.exec(a.name, ['ping', '-c', '3', '-i', '0.2', '-W', '2', target]);
        expect(r.code, `${a.name} → ${p.name} (${target}): ${r.stdout}${r.stderr}`).toBe(0);
      }
    }
    for (const n of lab.nodes) {
      const links = JSON.parse(await exec(n.name, ['ip', '-d', '-j', 'link', 'show'])) as { ifname: string; linkinfo?: { info_kind?: string } }[];
      const kinds = links.map((l) => l.linkinfo?.info_kind).filter((k) => k === 'bridge' || k === 'dummy');
      expect(kinds, `${n.name}: the stand-in created ${kinds.join(', ')}`).toEqual([]);
      expect(links.map((l) => l.ifname)).toContain('flannel.1');
    }
    // -iptables-resync: a deleted rule comes back.
    const fwd = ['FLANNEL-FWD', '-s', '10.244.0.0/16', '-m', 'comment', '--comment', 'flanneld forward', '-j', 'ACCEPT'];
    await exec('node2', ['iptables', '-D', ...fwd]);
    await waitFor('node2 to restore its FORWARD rule', async () => (await lab.exec('node2', ['iptables', '-C', ...fwd])).code === 0);
    const health = await lab.exec('node2', ['curl', '-s', 'http://127.0.0.1:8471/healthz']);
    expect(health.stdout).toBe('flanneld is running');
  });

  it('writes leases in flannel\'s key/value format with a 24 h etcd lease', async () => {
    const json = await etcdctl(['get', '--prefix', `${PREFIX}/subnets/`, '-w', 'json']);
    // Lease IDs are int64: read them as strings (JSON.parse would round them).
    const leaseIds = [...json.matchAll(/"lease":(\d+)/g)].map((m) => BigInt(m[1]).toString(16));
    const kvs = (JSON.parse(json).kvs as { key: string; value: string }[]).map((kv) => ({
      key: Buffer.from(kv.key, 'base64').toString(),
      value: Buffer.from(kv.value, 'base64').toString(),
    }));
    expect(kvs).toHaveLength(3);
    expect(leaseIds).toHaveLength(3);
    for (const n of lab.nodes) {
      const subnet = leaseSubnet((await subnetEnv(n.name)).FLANNEL_SUBNET);
      const kv = kvs.find((e) => e.key === `${PREFIX}/subnets/${subnet.replace('/', '-')}`);
      expect(kv, `lease of ${n.name}`).toBeDefined();
      const value = JSON.parse(kv!.value);
      expect(Object.keys(value)).toEqual(['PublicIP', 'PublicIPv6', 'BackendType', 'BackendData']);
      expect(value.PublicIP).toBe(n.ip);
      expect(value.PublicIPv6).toBeNull();
      expect(value.BackendType).toBe('vxlan');
      expect(Object.keys(value.BackendData)).toEqual(['VNI', 'VtepMAC']);
      expect(value.BackendData.VNI).toBe(1);
      const link = JSON.parse(await exec(n.name, ['ip', '-d', '-j', 'link', 'show', 'flannel.1']))[0];
      expect(value.BackendData.VtepMAC).toBe(link.address);
      expect(link.linkinfo.info_data).toMatchObject({ id: 1, local: n.ip, port: 8472, learning: false });
      expect(link.mtu).toBe(1450);
    }
    for (const id of leaseIds) {
      const ttl = await etcdctl(['lease', 'timetolive', id, '--keys']);
      const m = /granted with TTL\((\d+)s\), remaining\((\d+)s\), attached keys\(\[(.*)\]\)/.exec(ttl);
      expect(m, ttl).not.toBeNull();
      expect(Number(m![1])).toBe(86400);
      expect(Number(m![2])).toBeGreaterThan(86400 - 300);
      expect(m![3]).toContain(`${PREFIX}/subnets/`);
    }
  });

  it('keeps the same subnet across a restart and leaves flannel.1 in place on SIGTERM (v0.20.2: exit 2, a panic)', async () => {
    const before = (await subnetEnv('node1')).FLANNEL_SUBNET;
    expect(await stop('node1')).toBe('2');
    expect(await cat('node1', '/var/log/standin.log')).toContain('panic: runtime error: index out of range [0] with length 0');
    expect((await lab.exec('node1', ['ip', 'link', 'show', 'flannel.1'])).code).toBe(0);
    await exec('node1', ['rm', '-f', '/run/flannel/subnet.env']);
    await start('node1');
    expect((await subnetEnv('node1')).FLANNEL_SUBNET).toBe(before);
    expect(await cat('node1', '/var/log/standin.log')).toContain(`Found lease (${leaseSubnet(before)}) for current IP`);
    // Like flanneld, a restarted stand-in only removes routes of leases it has seen: wait until it saw node3's.
    const node3 = leaseSubnet((await subnetEnv('node3')).FLANNEL_SUBNET);
    await waitFor('node1 to see node3 again', async () => (await cat('node1', '/var/log/standin.log'))?.includes(`Subnet added: ${node3}`));
  });

  it('exits 0 when its lease is deleted, and peers drop the route to it', async () => {
    const subnet = leaseSubnet((await subnetEnv('node3')).FLANNEL_SUBNET);
    await etcdctl(['del', `${PREFIX}/subnets/${subnet.replace('/', '-')}`]);
    expect(await exitStatus('node3')).toBe('0');
    d.started.delete('node3');
    expect(await cat('node3', '/var/log/standin.log')).toContain('Lease has been revoked. Shutting down daemon.');
    await waitFor('node1 to drop the route to node3', async () => !(await routes('node1')).some((r) => r.dst === subnet));
  });

  it('host-gw after stop/clean/start: routes via the peers\' public IPs', async () => {
    for (const n of [...d.started]) expect(await stop(n)).toBe('2');
    for (const n of lab.nodes) await lab.exec(n.name, ['ip', 'link', 'del', 'flannel.1']);
    await etcdctl(['put', `${PREFIX}/config`, '{"Network":"10.244.0.0/16","Backend":{"Type":"host-gw"}}']);
    for (const n of lab.nodes) await start(n.name);
    const subnets = new Map<string, string>();
    for (const n of lab.nodes) subnets.set(n.name, leaseSubnet((await subnetEnv(n.name)).FLANNEL_SUBNET));
    for (const a of lab.nodes) {
      expect((await subnetEnv(a.name)).FLANNEL_MTU).toBe('1500');
      const peers = lab.nodes.filter((b) => b.name !== a.name);
      await waitFor(`${a.name} host-gw routes`, async () => {
        const rs = await routes(a.name);
        return peers.every((p) => rs.some((r) => r.dst === subnets.get(p.name) && r.gateway === p.ip && r.dev === 'eth0'));
      });
      expect((await lab.exec(a.name, ['ip', 'link', 'show', 'flannel.1'])).code).not.toBe(0);
    }
    const leases = await etcdctl(['get', '--prefix', `${PREFIX}/subnets/`, '--print-value-only']);
    const types = leases.trim().split('\n').map((l) => JSON.parse(l).BackendType);
    expect(types).toEqual(['host-gw', 'host-gw', 'host-gw']);
    // Data path: a probe bridge holding FLANNEL_SUBNET's .1 on each node (flannel's own tests use a dummy).
    for (const n of lab.nodes) {
      const own = (await subnetEnv(n.name)).FLANNEL_SUBNET;
      await exec(n.name, ['ip', 'link', 'add', 'probe0', 'type', 'bridge']);
      await exec(n.name, ['ip', 'addr', 'add', own, 'dev', 'probe0']);
      await exec(n.name, ['ip', 'link', 'set', 'probe0', 'up']);
    }
    const src = (await subnetEnv('node1')).FLANNEL_SUBNET.split('/')[0];
    const dst = (await subnetEnv('node2')).FLANNEL_SUBNET.split('/')[0];
    const ping = await lab.exec('node1', ['ping', '-c', '3', '-i', '0.2', '-W', '2', '-I', src, dst]);
    expect(ping.code, ping.stdout + ping.stderr).toBe(0);
    for (const n of lab.nodes) await lab.exec(n.name, ['ip', 'link', 'del', 'probe0']);
  });

  it('v2 mode (env switch on v0.20.2, and the v0.11.0 build) writes under the v2 keyspace', async () => {
    for (const n of [...d.started]) expect(await stop(n)).toBe('2');
    await etcdctl(['del', '--prefix', `${PREFIX}/`]);
    for (const n of lab.nodes) {
      await lab.exec(n.name, ['ip', '-4', 'route', 'flush', 'root', '10.244.0.0/16']);
      await lab.exec(n.name, ['rm', '-f', '/run/flannel/subnet.env']);
    }
    await etcdctl(['set', `${PREFIX}/config`, '{"Network":"10.245.0.0/16","Backend":{"Type":"vxlan"}}'], 2);
    await start('node1', 'v0.20.2', ['FLANNELD_STANDIN_ETCD_API=v2']);
    await start('node2', 'v0.11.0');
    const s1 = leaseSubnet((await subnetEnv('node1')).FLANNEL_SUBNET);
    const s2 = leaseSubnet((await subnetEnv('node2')).FLANNEL_SUBNET);
    const keys = (await etcdctl(['ls', `${PREFIX}/subnets`], 2)).trim().split('\n').sort();
    expect(keys).toEqual([s1, s2].map((s) => `${PREFIX}/subnets/${s.replace('/', '-')}`).sort());
    expect((await etcdctl(['get', '--prefix', `${PREFIX}/`, '--keys-only'])).trim()).toBe('');
    const v1 = JSON.parse(await etcdctl(['get', `${PREFIX}/subnets/${s1.replace('/', '-')}`], 2));
    const v2 = JSON.parse(await etcdctl(['get', `${PREFIX}/subnets/${s2.replace('/', '-')}`], 2));
    expect(Object.keys(v1)).toEqual(['PublicIP', 'PublicIPv6', 'BackendType', 'BackendData']);
    expect(Object.keys(v2)).toEqual(['PublicIP', 'BackendType', 'BackendData']);
    expect(Object.keys(v2.BackendData)).toEqual(['VtepMAC']);
    const ext = await etcdctl(['-o', 'extended', 'get', `${PREFIX}/subnets/${s2.replace('/', '-')}`], 2);
    const ttl = Number(/TTL: (\d+)/.exec(ext)?.[1]);
    expect(ttl).toBeGreaterThan(86400 - 300);
    expect(ttl).toBeLessThanOrEqual(86400);
    await waitFor('node1 route to node2', async () => (await routes('node1')).some((r) => r.dst === s2 && r.dev === 'flannel.1'));
    const ping = await lab.exec('node1', ['ping', '-c', '3', '-i', '0.2', '-W', '2', s2.replace('/24', '')]);
    expect(ping.code, ping.stdout + ping.stderr).toBe(0);
    const nat = await exec('node2', ['iptables', '-t', 'nat', '-C', 'POSTROUTING', '-s', '10.245.0.0/16', '-d', '10.245.0.0/16', '-j', 'RETURN']);
    expect(nat).toBe('');
  });

  it('refuses a config without Backend (udp, like a flannel build without udp) with exit 1', async () => {
    await etcdctl(['put', `${PREFIX}/config`, '{"Network":"10.246.0.0/16"}']);
    await start('node3', 'v0.20.2', [], false);
    expect(await exitStatus('node3')).toBe('1');
    d.started.delete('node3');
    expect(await cat('node3', '/var/log/standin.log')).toContain('UDP backend is not supported');
  });
});
