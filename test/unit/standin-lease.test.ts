import { describe, expect, it } from 'vitest';
import { parseNetworkConfig } from '../../lab/flanneld-standin/src/config.js';
import { formatNet4, parseNet4, type Net4 } from '../../lab/flanneld-standin/src/ip4.js';
import { leaseKeyOf, leaseValue, parsePeerLease, type PeerLease } from '../../lab/flanneld-standin/src/lease-format.js';
import { chooseSubnet, fitsConfig, freeSubnets } from '../../lab/flanneld-standin/src/subnet-choice.js';

const net = (s: string) => parseNet4(s) as Net4;
const cfg = parseNetworkConfig('{"Network":"10.244.0.0/16","Backend":{"Type":"vxlan"}}');
const lease = (subnet: string, publicIp: string): PeerLease => ({
  key: leaseKeyOf('/coreos.com/network', net(subnet)),
  subnet: net(subnet),
  publicIp,
  backendType: 'vxlan',
});

describe('flanneld stand-in lease JSON (FLANNEL.md §1, §9)', () => {
  it('writes v0.20 leases in LeaseAttrs field order with PublicIPv6 null and {VNI, VtepMAC}', () => {
    const v = leaseValue('v0.20', { publicIp: '10.78.0.2', backendType: 'vxlan', vxlan: { vni: 1, vtepMac: 'b6:80:ae:fb:63:cb' } });
    expect(v).toBe('{"PublicIP":"10.78.0.2","PublicIPv6":null,"BackendType":"vxlan","BackendData":{"VNI":1,"VtepMAC":"b6:80:ae:fb:63:cb"}}');
    expect(Object.keys(JSON.parse(v))).toEqual(['PublicIP', 'PublicIPv6', 'BackendType', 'BackendData']);
  });

  it('writes v0.11 leases without VNI and without PublicIPv6', () => {
    const v = leaseValue('v0.11', { publicIp: '10.78.0.2', backendType: 'vxlan', vxlan: { vni: 1, vtepMac: '8e:62:43:ff:58:52' } });
    expect(v).toBe('{"PublicIP":"10.78.0.2","BackendType":"vxlan","BackendData":{"VtepMAC":"8e:62:43:ff:58:52"}}');
  });

  it('omits BackendData for host-gw', () => {
    expect(leaseValue('v0.20', { publicIp: '10.0.0.1', backendType: 'host-gw' })).toBe(
      '{"PublicIP":"10.0.0.1","PublicIPv6":null,"BackendType":"host-gw"}',
    );
    expect(leaseValue('v0.11', { publicIp: '10.0.0.1', backendType: 'host-gw' })).toBe('{"PublicIP":"10.0.0.1","BackendType":"host-gw"}');
  });

  it('names keys <prefix>/subnets/<ip>-<len>', () => {
    expect(leaseKeyOf('/coreos.com/network/', net('10.5.52.0/24'))).toBe('/coreos.com/network/subnets/10.5.52.0-24');
  });

  it('parses peer leases of both flavours and ignores other keys', () => {
    const p = parsePeerLease('/p', '/p/subnets/10.1.2.0-24', '{"PublicIP":"1.2.3.4","BackendType":"vxlan","BackendData":{"VtepMAC":"aa:bb:cc:dd:ee:ff"}}');
    expect(p && { ...p, subnet: formatNet4(p.subnet) }).toEqual({
      key: '/p/subnets/10.1.2.0-24', subnet: '10.1.2.0/24', publicIp: '1.2.3.4', backendType: 'vxlan', vni: undefined, vtepMac: 'aa:bb:cc:dd:ee:ff',
    });
    expect(parsePeerLease('/p', '/p/config', '{}')).toBeUndefined();
    expect(parsePeerLease('/p', '/p/subnets/10.1.2.0-24', 'not json')).toBeUndefined();
    expect(parsePeerLease('/p', '/p/subnets/10.1.2.0-24', '{"PublicIP":"1.2.3.4"}')?.backendType).toBeUndefined();
  });
});

describe('flanneld stand-in subnet choice (FLANNEL.md §1)', () => {
  it('reuses the lease whose PublicIP is ours when it fits', () => {
    const mine = lease('10.244.7.0/24', '10.0.0.2');
    const c = chooseSubnet(cfg, [lease('10.244.3.0/24', '10.0.0.3'), mine], '10.0.0.2', net('10.244.9.0/24'));
    expect(c.kind).toBe('reuse');
    expect(c.kind === 'reuse' && c.lease).toBe(mine);
  });

  it('drops our lease when it no longer fits the config, and may take the subnet.env one', () => {
    const stale = lease('10.244.7.0/25', '10.0.0.2');
    const c = chooseSubnet(cfg, [stale], '10.0.0.2', net('10.244.9.0/24'));
    expect(c.kind).toBe('previous');
    expect(c.kind === 'previous' && c.staleOwn).toBe(stale);
    expect(c.kind === 'previous' && formatNet4(c.subnet)).toBe('10.244.9.0/24');
  });

  it('takes the previous subnet only when it is free and fits', () => {
    const taken = chooseSubnet(cfg, [lease('10.244.9.0/24', '10.0.0.3')], '10.0.0.2', net('10.244.9.0/24'), () => 0);
    expect(taken.kind).toBe('allocate');
    const outside = chooseSubnet(cfg, [], '10.0.0.2', net('10.99.9.0/24'), () => 0);
    expect(outside.kind).toBe('allocate');
    const first = chooseSubnet(cfg, [], '10.0.0.2', net('10.244.0.0/24'), () => 0);
    expect(first.kind === 'allocate' && formatNet4(first.subnet)).toBe('10.244.1.0/24');
  });

  it('picks at random among the first 100 free subnets, skipping overlapping leases', () => {
    const leases = [lease('10.244.1.0/24', '10.0.0.3'), lease('10.244.2.0/23', '10.0.0.4')];
    const free = freeSubnets(cfg, leases.map((l) => l.subnet));
    expect(free).toHaveLength(100);
    expect(formatNet4(free[0])).toBe('10.244.4.0/24');
    expect(formatNet4(free[99])).toBe('10.244.103.0/24');
    const lo = chooseSubnet(cfg, leases, '10.0.0.2', undefined, () => 0);
    const hi = chooseSubnet(cfg, leases, '10.0.0.2', undefined, () => 0.9999);
    expect(lo.kind === 'allocate' && formatNet4(lo.subnet)).toBe('10.244.4.0/24');
    expect(hi.kind === 'allocate' && formatNet4(hi.subnet)).toBe('10.244.103.0/24');
  });

  it('reports out of subnets', () => {
    const small = parseNetworkConfig('{"Network":"10.5.0.0/24","Backend":{"Type":"vxlan"}}');
    const all = ['10.5.0.64/26', '10.5.0.128/26', '10.5.0.192/26'].map((s, i) => lease(s, `10.0.0.${i + 10}`));
    expect(chooseSubnet(small, all, '10.0.0.2', undefined).kind).toBe('exhausted');
    expect(fitsConfig(small, net('10.5.0.0/26'))).toBe(false);
  });
});
