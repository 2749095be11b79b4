import { describe, expect, it } from 'vitest';
import {
  backendMtu, cidrsOverlap, defaultSubnetLen, effectiveSubnetLen, ipInCidr, isAligned, normaliseCidr, parseCidr, subnetCapacity, subnetRange,
} from '../../src/model/network.js';
import { load, nodes, problemsOf } from './foundation-fixture.js';

const net = (cidr: string, extra: Record<string, unknown> = {}) => ({ network: { cidr, ...extra } });

describe('CIDR helpers', () => {
  it.each([
    ['10.244.1.7', '10.244.0.0/16', true],
    ['10.245.0.0', '10.244.0.0/16', false],
    ['10.244.0.0', '10.244.0.0/32', true],
    ['192.168.1.1', '0.0.0.0/0', true],
    ['node1.example', '10.0.0.0/8', false],
  ])('ipInCidr(%s, %s) = %s', (ip, cidr, want) => expect(ipInCidr(ip, cidr)).toBe(want));

  it.each([
    ['10.244.0.0/16', '10.96.0.0/12', false],
    ['10.0.0.0/8', '10.96.0.0/12', true],
    ['10.96.0.0/12', '10.100.0.0/16', true],
    ['172.16.0.0/16', '172.17.0.0/16', false],
  ])('cidrsOverlap(%s, %s) = %s', (a, b, want) => expect(cidrsOverlap(a, b)).toBe(want));

  it('parses, normalises and checks alignment', () => {
    expect(parseCidr('10.244.1.0/16')).toEqual({ network: '10.244.0.0', prefix: 16, address: '10.244.1.0' });
    expect(parseCidr('10.300.0.0/16')).toBeUndefined();
    expect(parseCidr('10.0.0.0/33')).toBeUndefined();
    expect(normaliseCidr('10.244.7.9/16')).toBe('10.244.0.0/16');
    expect(isAligned('10.244.8.0', 21)).toBe(true);
    expect(isAligned('10.244.9.0', 21)).toBe(false);
  });

  it('a CIDR parsed again (from the cache) gives the same answer, and callers cannot change the cached one', () => {
    for (const text of ['10.244.1.0/16', '10.300.0.0/16', '10.244.3.0/24']) expect(parseCidr(text)).toEqual(parseCidr(text));
    const c = parseCidr('10.244.3.0/24')!;
    expect(Object.isFrozen(c)).toBe(true);
    expect(() => Object.assign(c, { prefix: 8 })).toThrow();
    expect(parseCidr('10.244.3.0/24')).toEqual({ network: '10.244.3.0', prefix: 24, address: '10.244.3.0' });
    expect(parseCidr('10.300.0.0/16')).toBeUndefined();
  });
});

describe("flannel's SubnetLen default", () => {
  it.each([
    [8, 24], [16, 24], [20, 24], [22, 24], // <= /22: 24
    [23, 25], [24, 26], [25, 27], [26, 28], [27, 29], [28, 30], // /23../28: prefix + 2
    [29, undefined], [30, undefined], [32, undefined], // too small
  ])('/%i → %s', (prefix, want) => expect(defaultSubnetLen(prefix)).toBe(want));

  it('an explicit subnetLen wins', () => {
    expect(effectiveSubnetLen(net('10.244.0.0/16', { subnetLen: 26 }) as never)).toBe(26);
    expect(effectiveSubnetLen(net('10.5.0.0/24') as never)).toBe(26);
  });
});

describe('subnet range and capacity (flanneld defaults: second subnet .. last subnet)', () => {
  it.each([
    ['10.244.0.0/16', {}, 24, '10.244.1.0', '10.244.255.0', 255],
    ['10.244.0.0/16', { subnetLen: 21 }, 21, '10.244.8.0', '10.244.248.0', 31],
    ['10.5.0.0/24', {}, 26, '10.5.0.64', '10.5.0.192', 3],
    ['10.5.0.0/22', {}, 24, '10.5.1.0', '10.5.3.0', 3],
    ['10.5.0.0/28', {}, 30, '10.5.0.4', '10.5.0.12', 3],
    ['10.244.0.0/16', { subnetMin: '10.244.10.0', subnetMax: '10.244.200.0' }, 24, '10.244.10.0', '10.244.200.0', 191],
    ['10.244.0.0/16', { subnetMin: '10.244.20.0', subnetMax: '10.244.10.0' }, 24, '10.244.20.0', '10.244.10.0', 0],
  ])('%s %j → /%i %s..%s, %i subnets', (cidr, extra, len, min, max, count) => {
    const r = subnetRange(net(cidr, extra) as never);
    expect(r).toMatchObject({ subnetLen: len, min, max, count });
    expect(subnetCapacity(net(cidr, extra) as never)).toBe(count);
  });
});

describe('network rules reported with their YAML path (exit 2)', () => {
  const cases: [string, Record<string, unknown>, string, RegExp][] = [
    ['network prefix longer than /28 without subnetLen', { network: { cidr: '10.5.0.0/29' } }, 'network.cidr', /minimum useful network prefix is \/28/],
    ['subnetLen above 30', { network: { cidr: '10.5.0.0/16', subnetLen: 31 } }, 'network.subnetLen', /SubnetLen <= 30/],
    ['subnetLen too short for four subnets', { network: { cidr: '10.244.0.0/16', subnetLen: 17 } }, 'network.subnetLen', /SubnetLen >= 18/],
    ['subnetLen equal to the prefix', { network: { cidr: '10.244.0.0/24', subnetLen: 24 } }, 'network.subnetLen', /SubnetLen >= 26/],
    ['subnetMin outside the network', { network: { subnetMin: '10.245.1.0' } }, 'network.subnetMin', /not inside network 10\.244\.0\.0\/16/],
    ['subnetMax outside the network', { network: { subnetMax: '10.0.0.0' } }, 'network.subnetMax', /not inside/],
    ['subnetMin not aligned', { network: { subnetMin: '10.244.10.5' } }, 'network.subnetMin', /not on a \/24 boundary.*10\.244\.10\.0/],
    ['subnetMax not aligned to an explicit subnetLen', { network: { subnetLen: 21, subnetMax: '10.244.9.0' } }, 'network.subnetMax', /\/21 boundary/],
    ['subnetMin is the first subnet', { network: { subnetMin: '10.244.0.0' } }, 'network.subnetMin', /first subnet.*never uses/],
    ['subnetMin above subnetMax', { network: { subnetMin: '10.244.20.0', subnetMax: '10.244.10.0' } }, 'network.subnetMin', /above subnetMax/],
    ['/16 with SubnetLen 21 holds only 31 nodes', { network: { subnetLen: 21 }, nodes: nodes(32) }, 'network.subnetLen', /only 31 usable \/21 subnets .* for 32 nodes/],
    ['default /26 subnets of a /24 hold 3 nodes', { network: { cidr: '10.5.0.0/24' }, nodes: nodes(4) }, 'network.cidr', /only 3 usable \/26 subnets/],
    ['subnetMin..subnetMax too narrow', { network: { subnetMin: '10.244.10.0', subnetMax: '10.244.11.0' }, nodes: nodes(3) }, 'network.subnetMin', /only 2 usable/],
    ['invalid network address', { network: { cidr: '10.300.0.0/16' } }, 'network.cidr', /not a valid IPv4 CIDR/],
    ['serviceCidr overlapping the network', { network: { cidr: '10.0.0.0/8', serviceCidr: '10.96.0.0/12' }, nodes: [{ name: 'a', host: '192.168.0.1' }], etcd: { endpoints: ['https://192.168.0.2:2379'] } }, 'network.serviceCidr', /overlaps the flannel network 10\.0\.0\.0\/8/],
    ['node host inside the network', { nodes: [{ name: 'a', host: '10.244.3.4' }] }, 'nodes[0].host', /inside the flannel network/],
    ['node publicIp inside the network', { nodes: [{ name: 'a', host: '10.77.0.11', publicIp: '10.244.0.9' }] }, 'nodes[0].publicIp', /inside the flannel network/],
    ['etcd endpoint inside the network', { etcd: { endpoints: ['https://10.244.0.1:2379'] } }, 'etcd.endpoints[0]', /inside the flannel network/],
    ['duplicate node names', { nodes: [{ name: 'a', host: '10.77.0.11' }, { name: 'a', host: '10.77.0.12' }] }, 'nodes[1].name', /duplicate node name a \(also nodes\[0\]\)/],
    ['duplicate hosts', { nodes: [{ name: 'a', host: '10.77.0.11' }, { name: 'b', host: '10.77.0.11' }] }, 'nodes[1].host', /duplicate host/],
    ['duplicate public IPs', { nodes: [{ name: 'a', host: '10.77.0.11' }, { name: 'b', host: '10.77.0.12', publicIp: '10.77.0.11' }] }, 'nodes[1].publicIp', /duplicate public IP/],
    ['host name without publicIp', { nodes: [{ name: 'a', host: 'node-a.example.com' }] }, 'nodes[0].publicIp', /required when host is a name/],
    ['renew margin 0', { flannel: { subnetLeaseRenewMargin: 0 } }, 'flannel.subnetLeaseRenewMargin', /1\.\.1439/],
    ['renew margin 1440', { flannel: { subnetLeaseRenewMargin: 1440 } }, 'flannel.subnetLeaseRenewMargin', /1\.\.1439/],
    ['ipMasq with the tightened rule', { flannel: { ipMasq: true } }, 'flannel.ipMasq', /contradicts iptables.masquerade: tightened/],
    ['ipMasq false with masquerade: flannel', { flannel: { ipMasq: false }, iptables: { masquerade: 'flannel' } }, 'flannel.ipMasq', /contradicts/],
    ['vxlan VNI 0', { network: { backend: { type: 'vxlan', vni: 0 } } }, 'network.backend.vni', /.+/],
    ['vxlan port above 65535', { network: { backend: { type: 'vxlan', port: 70000 } } }, 'network.backend.port', /.+/],
    ['wireguard listenPort 0', { network: { backend: { type: 'wireguard', listenPort: 0 } } }, 'network.backend.listenPort', /.+/],
    ['an option of another backend', { network: { backend: { type: 'host-gw', vni: 1 } } }, 'network.backend', /unknown key vni/],
    ['unknown backend', { network: { backend: { type: 'hostgw' } } }, 'network.backend.type', /.+/],
    ['iface with a shell metacharacter', { nodes: [{ name: 'a', host: '10.77.0.11', iface: 'eth0;reboot' }] }, 'nodes[0].iface', /interface name/],
    ['a remote path with ..', { flannel: { installDir: '/opt/../etc' } }, 'flannel.installDir', /plain/],
    ['a remote path with a space', { flannel: { configDir: '/etc/my flannel' } }, 'flannel.configDir', /plain/],
    ['a node name with a space', { nodes: [{ name: 'node 1', host: '10.77.0.11' }] }, 'nodes[0].name', /DNS label/],
    ['rsa key too small', { pki: { flanneld: { key: { algo: 'rsa', size: 1024 } } } }, 'pki.flanneld.key.size', /2048\.\.8192/],
    ['ecdsa with an RSA size', { pki: { flanneld: { key: { algo: 'ecdsa', size: 2048 } } } }, 'pki.flanneld.key.size', /256/],
  ];

  it.each(cases)('%s → %s', async (_name, patch, path, message) => {
    const problems = await problemsOf(patch);
    const hit = problems.find((p) => p.path === path);
    expect(hit, `problems: ${JSON.stringify(problems)}`).toBeDefined();
    expect(hit!.message).toMatch(message);
    expect(hit!.line).toBeGreaterThan(0);
  });

  it.each([
    ['/16 with SubnetLen 21 and exactly 31 nodes', { network: { subnetLen: 21 }, nodes: nodes(31) }],
    ['/16 with SubnetLen 18 (four subnets)', { network: { subnetLen: 18 } }],
    ['/28 network with the default /30 subnets', { network: { cidr: '10.5.0.0/28' } }],
    ['subnetLen 30', { network: { subnetLen: 30 } }],
    ['aligned subnetMin/Max inside', { network: { subnetMin: '10.244.10.0', subnetMax: '10.244.200.0' } }],
    ['renew margin 1 and ipMasq with masquerade: flannel', { flannel: { subnetLeaseRenewMargin: 1, ipMasq: true }, iptables: { masquerade: 'flannel' } }],
    ['renew margin 1439', { flannel: { subnetLeaseRenewMargin: 1439 } }],
    ['non-overlapping serviceCidr', { network: { serviceCidr: '10.96.0.0/12' } }],
    ['host name with publicIp', { nodes: [{ name: 'a', host: 'node-a.example.com', publicIp: '10.77.0.11' }] }],
    ['ecdsa with its default size', { pki: { flanneld: { key: { algo: 'ecdsa' } } } }],
  ])('accepts %s', async (_name, patch) => {
    expect(await problemsOf(patch)).toEqual([]);
  });

  it('ecdsa keys default to P-256, rsa to 2048', async () => {
    expect((await load({ pki: { flanneld: { key: { algo: 'ecdsa' } } } })).pki.flanneld.key).toEqual({ algo: 'ecdsa', size: 256 });
    expect((await load()).pki.flanneld.key).toEqual({ algo: 'rsa', size: 2048 });
  });

  it('reports every problem at once', async () => {
    const problems = await problemsOf({ flannel: { subnetLeaseRenewMargin: 0, ipMasq: true }, nodes: [{ name: 'a', host: '10.244.0.5' }] });
    expect(problems.map((p) => p.path).sort()).toEqual(['flannel.ipMasq', 'flannel.subnetLeaseRenewMargin', 'nodes[0].host']);
  });
});

describe('backend MTU as flanneld reports it', () => {
  it.each([
    [{ type: 'vxlan', vni: 1, port: 8472, directRouting: false, gbp: false }, 1450],
    [{ type: 'host-gw' }, 1500],
    [{ type: 'ipip', directRouting: false }, 1480],
    [{ type: 'udp', port: 8285 }, 1472],
    [{ type: 'wireguard', listenPort: 51820, persistentKeepaliveInterval: 0 }, 1420],
  ])('%j → %i', (backend, mtu) => expect(backendMtu(backend as never, 1500)).toBe(mtu));
});

describe('route-destination prefixes (iproute2 prints host routes without a length)', async () => {
  const { parsePrefix, cidrWithin, normaliseCidr: norm } = await import('../../src/model/cidr.js');
  it.each([
    ['10.244.3.7/24', '10.244.3.0/24'],
    ['10.77.1.12', '10.77.1.12/32'],
    ['default', 'default'],
    ['fe80::1/64', 'fe80::1/64'],
  ])('normaliseCidr(%s) → %s', (input, want) => expect(norm(input)).toBe(want));
  it('parsePrefix takes a bare address as /32 and refuses default', () => {
    expect(parsePrefix('10.77.1.12')).toMatchObject({ network: '10.77.1.12', prefix: 32 });
    expect(parsePrefix('default')).toBeUndefined();
  });
  it.each([
    ['10.244.3.0/24', '10.244.0.0/16', true],
    ['10.244.3.9', '10.244.0.0/16', true],
    ['10.244.0.0/16', '10.244.0.0/16', true],
    ['10.0.0.0/8', '10.244.0.0/16', false],
    ['10.245.0.0/24', '10.244.0.0/16', false],
    ['default', '10.244.0.0/16', false],
  ])('cidrWithin(%s, %s) = %s', (inner, outer, want) => expect(cidrWithin(inner, outer)).toBe(want));
});
