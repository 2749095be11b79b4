import { mkdtempSync, readFileSync, rmSync, statSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { vxlanOptions } from '../../lab/flanneld-standin/src/config.js';
import { hostGwBackend } from '../../lab/flanneld-standin/src/hostgw.js';
import { parseNet4, type Net4 } from '../../lab/flanneld-standin/src/ip4.js';
import { forwardRules, installRules, masqRules, type RuleSet } from '../../lab/flanneld-standin/src/iptables.js';
import type { PeerLease } from '../../lab/flanneld-standin/src/lease-format.js';
import type { Logger } from '../../lab/flanneld-standin/src/log.js';
import { readPreviousSubnet, renderSubnetEnv, writeSubnetEnv } from '../../lab/flanneld-standin/src/subnet-file.js';
import { lookupExtIface, type ExecResult, type ExtIface, type Sys } from '../../lab/flanneld-standin/src/sys.js';
import { vxlanBackend } from '../../lab/flanneld-standin/src/vxlan.js';

const net = (s: string) => parseNet4(s) as Net4;
const quiet: Logger = { info() {}, warn() {}, error() {} };
const ext: ExtIface = { name: 'eth0', index: 2, ifaceAddr: '10.77.1.11', extAddr: '10.77.1.11', mtu: 1500, connected: [net('10.77.1.0/24')] };

/** A fake Sys: answers by the first matching rule, records every argv. */
function fakeSys(rules: [RegExp, (argv: string[]) => Partial<ExecResult>][]): Sys & { calls: string[] } {
  const calls: string[] = [];
  return {
    calls,
    async exec(argv, stdin) {
      const line = argv.join(' ') + (stdin !== undefined ? ` <<< ${stdin.trimEnd().split('\n').join(' ; ')}` : '');
      calls.push(line);
      const hit = rules.find(([re]) => re.test(line));
      return { code: 0, stdout: '', stderr: '', ...(hit ? hit[1](argv) : {}) };
    },
  };
}

const peer = (subnet: string, publicIp: string, extra: Partial<PeerLease> = {}): PeerLease => ({
  key: `/coreos.com/network/subnets/${subnet.replace('/', '-')}`, subnet: net(subnet), publicIp, backendType: 'vxlan', vni: 1, vtepMac: 'aa:bb:cc:00:00:02', ...extra,
});

describe('stand-in vxlan backend (FLANNEL.md §4)', () => {
  const linkJson = JSON.stringify([{ address: 'de:ad:be:ef:00:01', mtu: 1450, linkinfo: { info_kind: 'vxlan', info_data: { id: 1, local: '10.77.1.11', link: 'eth0', port: 8472 } } }]);

  it('creates flannel.1 nolearning with local/dev/dstport and MTU − 50, and leases its MAC', async () => {
    let created = false;
    const sys = fakeSys([
      [/^ip -d -j link show/, () => (created ? { stdout: linkJson } : { code: 1, stderr: 'Device "flannel.1" does not exist.' })],
      [/^ip link add/, () => ((created = true), {})],
    ]);
    const b = vxlanBackend(sys, quiet, ext, vxlanOptions({ Type: 'vxlan' }), net('10.244.0.0/16'));
    const attrs = await b.prepare();
    expect(sys.calls).toContain('ip link add flannel.1 mtu 1450 type vxlan id 1 local 10.77.1.11 dev eth0 dstport 8472 nolearning');
    expect(attrs).toEqual({ publicIp: '10.77.1.11', backendType: 'vxlan', vxlan: { vni: 1, vtepMac: 'de:ad:be:ef:00:01' } });
    expect(b.mtu()).toBe(1450);
  });

  it('reuses a compatible device and recreates an incompatible one', async () => {
    const reuse = fakeSys([[/^ip -d -j link show/, () => ({ stdout: linkJson })]]);
    await vxlanBackend(reuse, quiet, ext, vxlanOptions({}), net('10.244.0.0/16')).prepare();
    expect(reuse.calls.some((c) => c.startsWith('ip link add') || c.startsWith('ip link del'))).toBe(false);

    const other = fakeSys([[/^ip -d -j link show/, () => ({ stdout: linkJson })]]);
    await vxlanBackend(other, quiet, ext, vxlanOptions({ Port: 4789 }), net('10.244.0.0/16')).prepare().catch(() => undefined);
    expect(other.calls).toContain('ip link del flannel.1');
    expect(other.calls.find((c) => c.startsWith('ip link add'))).toContain('dstport 4789');
  });

  it('gives the device <subnet>.0/32, removing other addresses', async () => {
    const sys = fakeSys([[/^ip -j -4 addr show dev flannel.1/, () => ({ stdout: JSON.stringify([{ addr_info: [{ family: 'inet', local: '10.244.9.0', prefixlen: 16 }] }]) })]]);
    await vxlanBackend(sys, quiet, ext, vxlanOptions({}), net('10.244.0.0/16')).configureOwn(net('10.244.5.0/24'));
    expect(sys.calls).toEqual([
      'ip -j -4 addr show dev flannel.1', 'ip addr del 10.244.9.0/16 dev flannel.1', 'ip addr add 10.244.5.0/32 dev flannel.1', 'ip link set flannel.1 up',
    ]);
  });

  it('programs ARP, FDB and an onlink route per peer, and removes them', async () => {
    const sys = fakeSys([]);
    const b = vxlanBackend(sys, quiet, ext, vxlanOptions({}), net('10.244.0.0/16'));
    await b.addPeer(peer('10.244.7.0/24', '10.77.1.12'));
    expect(sys.calls).toEqual([
      'ip neigh replace 10.244.7.0 lladdr aa:bb:cc:00:00:02 dev flannel.1 nud permanent',
      'bridge fdb replace aa:bb:cc:00:00:02 dev flannel.1 dst 10.77.1.12 self permanent',
      'ip route replace 10.244.7.0/24 via 10.244.7.0 dev flannel.1 onlink',
    ]);
    sys.calls.length = 0;
    await b.removePeer(peer('10.244.7.0/24', '10.77.1.12'));
    expect(sys.calls).toContain('ip route del 10.244.7.0/24 via 10.244.7.0 dev flannel.1 onlink');
    expect(sys.calls).toContain('ip neigh del 10.244.7.0 dev flannel.1');
  });

  it('programs many peers in three batch processes with the same lines addPeer runs, in its order; odd leases go one by one', async () => {
    const sys = fakeSys([]);
    const b = vxlanBackend(sys, quiet, ext, vxlanOptions({}), net('10.244.0.0/16'));
    await b.addPeers!([peer('10.244.7.0/24', '10.77.1.12'), peer('10.244.8.0/24', '10.77.1.13', { vtepMac: 'aa:bb:cc:00:00:03' }), peer('10.244.9.0/24', '10.77.1.14', { backendType: 'host-gw' })]);
    expect(sys.calls).toEqual([
      'ip -batch - <<< neigh replace 10.244.7.0 lladdr aa:bb:cc:00:00:02 dev flannel.1 nud permanent ; neigh replace 10.244.8.0 lladdr aa:bb:cc:00:00:03 dev flannel.1 nud permanent',
      'bridge -batch - <<< fdb replace aa:bb:cc:00:00:02 dev flannel.1 dst 10.77.1.12 self permanent ; fdb replace aa:bb:cc:00:00:03 dev flannel.1 dst 10.77.1.13 self permanent',
      'ip -batch - <<< route replace 10.244.7.0/24 via 10.244.7.0 dev flannel.1 onlink ; route replace 10.244.8.0/24 via 10.244.8.0 dev flannel.1 onlink',
    ]);
    const failing = fakeSys([[/^bridge -batch/, () => ({ code: 1, stderr: 'Command failed -:1' })]]);
    await expect(vxlanBackend(failing, quiet, ext, vxlanOptions({}), net('10.244.0.0/16')).addPeers!([peer('10.244.7.0/24', '10.77.1.12')])).rejects.toThrow(/bridge -batch -: exit 1/);
  });

  it('uses a direct route with DirectRouting when the peer is on the same L2', async () => {
    const sys = fakeSys([
      [/route get 10\.77\.1\.12/, () => ({ stdout: '[{"dst":"10.77.1.12","dev":"eth0"}]' })],
      [/route get 192\.0\.2\.9/, () => ({ stdout: '[{"dst":"192.0.2.9","gateway":"10.77.1.1","dev":"eth0"}]' })],
    ]);
    const b = vxlanBackend(sys, quiet, ext, vxlanOptions({ DirectRouting: true }), net('10.244.0.0/16'));
    await b.addPeer(peer('10.244.7.0/24', '10.77.1.12'));
    await b.addPeer(peer('10.244.8.0/24', '192.0.2.9'));
    expect(sys.calls.filter((c) => !c.includes('route get'))).toEqual([
      'ip route replace 10.244.7.0/24 via 10.77.1.12',
      'ip neigh replace 10.244.8.0 lladdr aa:bb:cc:00:00:02 dev flannel.1 nud permanent',
      'bridge fdb replace aa:bb:cc:00:00:02 dev flannel.1 dst 192.0.2.9 self permanent',
      'ip route replace 10.244.8.0/24 via 10.244.8.0 dev flannel.1 onlink',
    ]);
  });

  it('ignores leases of another backend type', async () => {
    const sys = fakeSys([]);
    await vxlanBackend(sys, quiet, ext, vxlanOptions({}), net('10.244.0.0/16')).addPeer(peer('10.244.7.0/24', '10.77.1.12', { backendType: 'host-gw' }));
    expect(sys.calls).toEqual([]);
  });
});

describe('stand-in host-gw backend', () => {
  it('routes each peer subnet via its public IP on the iface and ignores other types', async () => {
    const sys = fakeSys([]);
    const b = hostGwBackend(sys, quiet, ext);
    expect(await b.prepare()).toEqual({ publicIp: '10.77.1.11', backendType: 'host-gw' });
    await b.addPeer(peer('10.244.7.0/24', '10.77.1.12', { backendType: 'host-gw' }));
    await b.addPeer(peer('10.244.8.0/24', '10.77.1.13'));
    expect(sys.calls).toEqual(['ip route replace 10.244.7.0/24 via 10.77.1.12 dev eth0']);
    expect(b.mtu()).toBe(1500);
    sys.calls.length = 0;
    await b.addPeers!([peer('10.244.7.0/24', '10.77.1.12', { backendType: 'host-gw' }), peer('10.244.9.0/24', '10.77.1.14', { backendType: 'host-gw' })]);
    expect(sys.calls).toEqual(['ip -batch - <<< route replace 10.244.7.0/24 via 10.77.1.12 dev eth0 ; route replace 10.244.9.0/24 via 10.77.1.14 dev eth0']);
  });

  it('resync lists the routes once and re-adds only the missing ones', async () => {
    const sys = fakeSys([[/^ip -j -4 route show dev eth0/, () => ({ stdout: JSON.stringify([{ dst: '10.244.7.0/24', gateway: '10.77.1.12', dev: 'eth0' }]) })]]);
    const b = hostGwBackend(sys, quiet, ext);
    await b.resync!([peer('10.244.7.0/24', '10.77.1.12', { backendType: 'host-gw' }), peer('10.244.9.0/24', '10.77.1.14', { backendType: 'host-gw' })]);
    expect(sys.calls).toEqual(['ip -j -4 route show dev eth0', 'ip route replace 10.244.9.0/24 via 10.77.1.14 dev eth0']);
  });

  it('refuses to start when the public IP is not the interface address', async () => {
    await expect(hostGwBackend(fakeSys([]), quiet, { ...ext, extAddr: '203.0.113.5' }).prepare()).rejects.toThrow(/probably you're on a NAT/);
  });
});

describe('stand-in iptables rules (FLANNEL.md §5, §9)', () => {
  const asS = (set: RuleSet) => [...set.jumps, ...set.rules].map((r) => `-A ${r.chain} ${r.spec.map((a) => (a.includes(' ') ? `"${a}"` : a)).join(' ')}`);

  it('v0.20: FLANNEL-POSTRTG and FLANNEL-FWD as observed on v0.20.2', () => {
    expect(asS(masqRules('v0.20', net('10.244.0.0/16'), net('10.244.40.0/24')))).toEqual([
      '-A POSTROUTING -m comment --comment "flanneld masq" -j FLANNEL-POSTRTG',
      '-A FLANNEL-POSTRTG -m mark --mark 0x4000/0x4000 -m comment --comment "flanneld masq" -j RETURN',
      '-A FLANNEL-POSTRTG -s 10.244.0.0/16 -d 10.244.0.0/16 -m comment --comment "flanneld masq" -j RETURN',
      '-A FLANNEL-POSTRTG -s 10.244.0.0/16 ! -d 224.0.0.0/4 -m comment --comment "flanneld masq" -j MASQUERADE --random-fully',
      '-A FLANNEL-POSTRTG ! -s 10.244.0.0/16 -d 10.244.40.0/24 -m comment --comment "flanneld masq" -j RETURN',
      '-A FLANNEL-POSTRTG ! -s 10.244.0.0/16 -d 10.244.0.0/16 -m comment --comment "flanneld masq" -j MASQUERADE --random-fully',
    ]);
    expect(asS(forwardRules('v0.20', net('10.244.0.0/16')))).toEqual([
      '-A FORWARD -m comment --comment "flanneld forward" -j FLANNEL-FWD',
      '-A FLANNEL-FWD -s 10.244.0.0/16 -m comment --comment "flanneld forward" -j ACCEPT',
      '-A FLANNEL-FWD -d 10.244.0.0/16 -m comment --comment "flanneld forward" -j ACCEPT',
    ]);
  });

  it('v0.11: plain rules directly in POSTROUTING and FORWARD', () => {
    expect(asS(masqRules('v0.11', net('10.244.0.0/16'), net('10.244.40.0/24')))).toEqual([
      '-A POSTROUTING -s 10.244.0.0/16 -d 10.244.0.0/16 -j RETURN',
      '-A POSTROUTING -s 10.244.0.0/16 ! -d 224.0.0.0/4 -j MASQUERADE --random-fully',
      '-A POSTROUTING ! -s 10.244.0.0/16 -d 10.244.40.0/24 -j RETURN',
      '-A POSTROUTING ! -s 10.244.0.0/16 -d 10.244.0.0/16 -j MASQUERADE --random-fully',
    ]);
    expect(asS(forwardRules('v0.11', net('10.244.0.0/16')))).toEqual(['-A FORWARD -s 10.244.0.0/16 -j ACCEPT', '-A FORWARD -d 10.244.0.0/16 -j ACCEPT']);
  });

  it('creates and flushes its chain, appends rules and inserts the jump at the top', async () => {
    const sys = fakeSys([[/ -D /, () => ({ code: 1 })]]);
    await installRules(sys, quiet, forwardRules('v0.20', net('10.5.0.0/16')), true);
    expect(sys.calls.filter((c) => !c.includes(' -D '))).toEqual([
      'iptables --wait -t filter -N FLANNEL-FWD',
      'iptables --wait -t filter -F FLANNEL-FWD',
      'iptables --wait -t filter -A FLANNEL-FWD -s 10.5.0.0/16 -m comment --comment flanneld forward -j ACCEPT',
      'iptables --wait -t filter -A FLANNEL-FWD -d 10.5.0.0/16 -m comment --comment flanneld forward -j ACCEPT',
      'iptables --wait -t filter -I FORWARD 1 -m comment --comment flanneld forward -j FLANNEL-FWD',
    ]);
  });
});

describe('stand-in subnet.env (FLANNEL.md §4)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'standin-env-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('renders FLANNEL_SUBNET as the lease subnet plus one, in flannel order', () => {
    expect(renderSubnetEnv({ network: net('10.5.0.0/16'), subnet: net('10.5.72.0/24'), mtu: 1450, ipMasq: false })).toBe(
      'FLANNEL_NETWORK=10.5.0.0/16\nFLANNEL_SUBNET=10.5.72.1/24\nFLANNEL_MTU=1450\nFLANNEL_IPMASQ=false\n',
    );
  });

  it('writes atomically with dir 0755 and file 0644, and reads the subnet back', () => {
    const file = join(dir, 'run', 'flannel', 'subnet.env');
    writeSubnetEnv(file, { network: net('10.5.0.0/16'), subnet: net('10.5.72.0/24'), mtu: 1450, ipMasq: true });
    expect(statSync(join(dir, 'run', 'flannel')).mode & 0o777).toBe(0o755);
    expect(statSync(file).mode & 0o777).toBe(0o644);
    expect(readdirSync(join(dir, 'run', 'flannel'))).toEqual(['subnet.env']);
    expect(readFileSync(file, 'utf8')).toContain('FLANNEL_IPMASQ=true');
    const prev = readPreviousSubnet(file);
    expect(prev.subnet).toEqual(net('10.5.72.0/24'));
    expect(prev.network).toEqual(net('10.5.0.0/16'));
    expect(readPreviousSubnet(join(dir, 'missing.env'))).toEqual({ subnet: undefined, network: undefined });
  });
});

describe('stand-in external interface lookup', () => {
  const addrs = JSON.stringify([
    { ifindex: 1, ifname: 'lo', mtu: 65536, addr_info: [{ family: 'inet', local: '127.0.0.1', prefixlen: 8 }] },
    { ifindex: 2, ifname: 'eth0', mtu: 1500, addr_info: [{ family: 'inet', local: '10.77.1.11', prefixlen: 24 }] },
    { ifindex: 3, ifname: 'eth1', mtu: 9000, addr_info: [{ family: 'inet', local: '192.168.5.2', prefixlen: 16 }] },
  ]);
  const sys = (defaultRoute: string) => fakeSys([[/addr show/, () => ({ stdout: addrs })], [/route show default/, () => ({ stdout: defaultRoute })]]);

  it('finds -iface by name or by IP, with the public IP defaulting to the interface address', async () => {
    const byName = await lookupExtIface(sys('[]'), { iface: ['eth1'], ifaceRegex: [], publicIp: '' });
    expect(byName.iface).toMatchObject({ name: 'eth1', ifaceAddr: '192.168.5.2', extAddr: '192.168.5.2', mtu: 9000 });
    expect(byName.iface.connected).toEqual([net('192.168.0.0/16')]);
    const byIp = await lookupExtIface(sys('[]'), { iface: ['nope', '10.77.1.11'], ifaceRegex: [], publicIp: '203.0.113.9' });
    expect(byIp.iface).toMatchObject({ name: 'eth0', ifaceAddr: '10.77.1.11', extAddr: '203.0.113.9' });
  });

  it('uses -iface-regex, then the default route interface, and fails without one', async () => {
    expect((await lookupExtIface(sys('[]'), { iface: [], ifaceRegex: ['^192\\.168\\.'], publicIp: '' })).iface.name).toBe('eth1');
    expect((await lookupExtIface(sys('[{"dst":"default","gateway":"10.77.1.1","dev":"eth0"}]'), { iface: [], ifaceRegex: [], publicIp: '' })).iface.name).toBe('eth0');
    await expect(lookupExtIface(sys('[]'), { iface: [], ifaceRegex: [], publicIp: '' })).rejects.toThrow(/default/);
    await expect(lookupExtIface(sys('[]'), { iface: ['eth9'], ifaceRegex: [], publicIp: '' })).rejects.toThrow(/eth9/);
  });
});
