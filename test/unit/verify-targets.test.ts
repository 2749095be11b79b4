import { describe, expect, it } from 'vitest';
import { bridgeAddress, deviceAddress, overlayTarget, planTargets } from '../../src/verify/targets.js';

describe('verify targets', () => {
  it('pings the peer lease .0 for backends with a flannel device, the .1 for host-gw', () => {
    expect(overlayTarget('vxlan', '10.244.7.0/24')).toBe('10.244.7.0');
    expect(overlayTarget('ipip', '10.244.7.0/24')).toBe('10.244.7.0');
    expect(overlayTarget('wireguard', '10.5.16.0/20')).toBe('10.5.16.0');
    expect(overlayTarget('host-gw', '10.244.7.0/24')).toBe('10.244.7.1');
    expect(overlayTarget('host-gw', '10.5.16.0/20')).toBe('10.5.16.1');
    expect(deviceAddress('172.16.255.0/24')).toBe('172.16.255.0');
    expect(bridgeAddress('172.16.255.0/24')).toBe('172.16.255.1');
  });

  it('plans every ordered pair once for vxlan, with no probes and no source addresses', () => {
    const plan = planTargets('vxlan', [
      { name: 'a', subnet: '10.244.1.0/24' },
      { name: 'b', subnet: '10.244.2.0/24' },
      { name: 'c', subnet: '10.244.3.0/24' },
    ], { probe: true });
    expect(plan.pairs).toHaveLength(6);
    expect(plan.pairs.find((p) => p.from === 'a' && p.to === 'c')?.target).toBe('10.244.3.0');
    expect(plan.probes).toEqual([]);
    expect(plan.sources.size).toBe(0);
  });

  it('host-gw: a node without a bridge is "no target" with the --probe hint, unless --probe', () => {
    const nodes = [
      { name: 'a', subnet: '10.244.1.0/24', bridge: 'docker0' },
      { name: 'b', subnet: '10.244.2.0/24' },
    ];
    const without = planTargets('host-gw', nodes, { probe: false });
    expect(without.pairs.find((p) => p.to === 'a')).toMatchObject({ from: 'b', target: '10.244.1.1' });
    const toB = without.pairs.find((p) => p.to === 'b')!;
    expect(toB.target).toBeUndefined();
    expect(toB.reason).toMatch(/no target.*10\.244\.2\.1.*--probe/);
    expect(without.sources.get('a')).toBe('10.244.1.1');
    expect(without.sources.has('b')).toBe(false);

    const withProbe = planTargets('host-gw', nodes, { probe: true });
    expect(withProbe.probes).toEqual([{ node: 'b', address: '10.244.2.1' }]);
    expect(withProbe.pairs.every((p) => p.target)).toBe(true);
    expect(withProbe.sources.get('b')).toBe('10.244.2.1');
  });

  it('a node without a lease has no target', () => {
    const plan = planTargets('vxlan', [{ name: 'a', subnet: '10.244.1.0/24' }, { name: 'b' }], { probe: false });
    expect(plan.pairs.find((p) => p.to === 'b')?.reason).toBe('b has no lease in etcd');
    expect(plan.pairs.find((p) => p.to === 'a')?.target).toBe('10.244.1.0');
  });
});
