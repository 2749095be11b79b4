import { describe, expect, it } from 'vitest';
import { ConfigError, parseNetworkConfig, vxlanOptions } from '../../lab/flanneld-standin/src/config.js';
import { formatIp4, formatNet4 } from '../../lab/flanneld-standin/src/ip4.js';

const parse = (o: unknown) => parseNetworkConfig(JSON.stringify(o));
const err = (o: unknown) => {
  try {
    parse(o);
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigError);
    return (e as Error).message;
  }
  throw new Error('expected a ConfigError');
};

describe('flanneld stand-in network config (FLANNEL.md §2)', () => {
  it('matches keys case-insensitively and ignores unknown keys', () => {
    const c = parse({ network: '10.5.0.0/16', SUBNETLEN: 25, SubnetLength: 20, backend: { type: 'VxLAN', directrouting: true, vni: 7 } });
    expect(formatNet4(c.network)).toBe('10.5.0.0/16');
    expect(c.subnetLen).toBe(25);
    expect(c.backendType).toBe('vxlan');
    expect(vxlanOptions(c.backend)).toMatchObject({ directRouting: true, vni: 7 });
  });

  it('lower-cases Type but does not invent aliases', () => {
    expect(parse({ Network: '10.5.0.0/16', Backend: { Type: 'Host-GW' } }).backendType).toBe('host-gw');
    expect(parse({ Network: '10.5.0.0/16', Backend: { Type: 'hostgw' } }).backendType).toBe('hostgw');
  });

  it('defaults to udp when Backend is missing and to "" when Type is missing', () => {
    expect(parse({ Network: '10.5.0.0/16' }).backendType).toBe('udp');
    expect(parse({ Network: '10.5.0.0/16', Backend: {} }).backendType).toBe('');
  });

  it('normalises Network to its network address', () => {
    expect(formatNet4(parse({ Network: '10.5.3.7/16', Backend: { Type: 'vxlan' } }).network)).toBe('10.5.0.0/16');
  });

  it('derives SubnetLen: 24 up to /22, prefix+2 for /23../28, error beyond', () => {
    const len = (n: string) => parse({ Network: n, Backend: { Type: 'vxlan' } }).subnetLen;
    expect(len('10.0.0.0/8')).toBe(24);
    expect(len('10.5.0.0/22')).toBe(24);
    expect(len('10.5.0.0/23')).toBe(25);
    expect(len('10.5.0.0/24')).toBe(26);
    expect(len('10.5.0.0/28')).toBe(30);
    expect(err({ Network: '10.5.0.0/29' })).toBe('network is too small. Minimum useful network prefix is /28');
  });

  it('checks an explicit SubnetLen', () => {
    expect(err({ Network: '10.5.0.0/16', SubnetLen: 31 })).toBe('SubnetLen must be less than /31');
    expect(err({ Network: '10.5.0.0/16', SubnetLen: 17 })).toBe('network must be able to accommodate at least four subnets');
    expect(parse({ Network: '10.5.0.0/16', SubnetLen: 18 }).subnetLen).toBe(18);
  });

  it('defaults SubnetMin to the second subnet and SubnetMax to the last', () => {
    const c = parse({ Network: '10.5.0.0/24', Backend: { Type: 'vxlan' } });
    expect(formatIp4(c.subnetMin)).toBe('10.5.0.64');
    expect(formatIp4(c.subnetMax)).toBe('10.5.0.192');
    const d = parse({ Network: '10.244.0.0/16', Backend: { Type: 'vxlan' } });
    expect(formatIp4(d.subnetMin)).toBe('10.244.1.0');
    expect(formatIp4(d.subnetMax)).toBe('10.244.255.0');
  });

  it('checks SubnetMin/SubnetMax range and alignment', () => {
    expect(err({ Network: '10.5.0.0/16', SubnetMin: '10.6.0.0' })).toBe('SubnetMin is not in the range of the Network');
    expect(err({ Network: '10.5.0.0/16', SubnetMax: '10.5.3.128' })).toBe('SubnetMax is not on a SubnetLen boundary: 10.5.3.128');
    const c = parse({ Network: '10.5.0.0/16', SubnetMin: '10.5.10.0', SubnetMax: '10.5.20.0' });
    expect([formatIp4(c.subnetMin), formatIp4(c.subnetMax)]).toEqual(['10.5.10.0', '10.5.20.0']);
  });

  it('rejects wrong JSON types like Go encoding/json', () => {
    expect(err({ Network: '10.5.0.0/16', SubnetLen: '24' })).toBe(
      'json: cannot unmarshal string into Go struct field Config.SubnetLen of type uint',
    );
    expect(err({ Network: 10 })).toContain('Config.Network of type string');
    expect(err({ SubnetLen: 24 })).toBe('please define a correct Network parameter in the flannel config');
  });

  it('lets the last key matching a field win, whatever its case (Go decodes key by key)', () => {
    const net = (t: string) => formatNet4(parseNetworkConfig(t).network);
    expect(net('{"network":"10.1.0.0/16","Network":"10.2.0.0/16"}')).toBe('10.2.0.0/16');
    expect(net('{"Network":"10.2.0.0/16","NETWORK":"10.3.0.0/16"}')).toBe('10.3.0.0/16');
  });

  it('has vxlan defaults VNI 1, Port 0, no GBP, no learning, no DirectRouting', () => {
    expect(vxlanOptions({ Type: 'vxlan' })).toEqual({ vni: 1, port: 0, gbp: false, learning: false, directRouting: false, mtu: 0 });
  });
});
