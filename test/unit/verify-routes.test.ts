import { describe, expect, it } from 'vitest';
import type { Backend } from '../../src/model/inventory.js';
import {
  compareRoutes, describeRouteProblems, expectedRoutes, formatRoute, isDirectlyConnected, parseJsonRoutes, parseTextRoutes,
} from '../../src/verify/routes.js';

const JSON_TABLE = JSON.stringify([
  { dst: '10.77.1.0/24', dev: 'eth0', protocol: 'kernel', scope: 'link', prefsrc: '10.77.1.11', flags: [] },
  { dst: '10.88.0.0/16', gateway: '10.77.1.1', dev: 'eth0', flags: [] },
  { dst: '10.244.2.0/24', gateway: '10.244.2.0', dev: 'flannel.1', flags: ['onlink'] },
  { type: 'blackhole', dst: '10.99.0.0/16', flags: [] },
]);
const TEXT_TABLE = `default via 10.77.1.1 dev eth0
10.77.1.0/24 dev eth0 proto kernel scope link src 10.77.1.11
10.244.2.0/24 via 10.244.2.0 dev flannel.1 onlink
10.244.3.0/24 via 10.77.1.13 dev eth0
blackhole 10.99.0.0/16
`;

const vxlan = (directRouting = false): Extract<Backend, { type: 'vxlan' }> => ({ type: 'vxlan', vni: 1, port: 8472, directRouting, gbp: false });
const peers = [
  { name: 'node2', subnet: '10.244.2.0/24', publicIp: '10.77.1.12' }, // same L2
  { name: 'node9', subnet: '10.244.9.0/24', publicIp: '10.88.0.9' }, // routed via 10.77.1.1
];

describe('route parsing', () => {
  it('reads ip -j route (unicast only) and the text form alike', () => {
    const j = parseJsonRoutes(JSON_TABLE);
    expect(j).toHaveLength(3);
    expect(j[2]).toMatchObject({ dst: '10.244.2.0/24', gateway: '10.244.2.0', dev: 'flannel.1', onlink: true });
    const t = parseTextRoutes(TEXT_TABLE);
    expect(t.map((r) => r.dst)).toEqual(['default', '10.77.1.0/24', '10.244.2.0/24', '10.244.3.0/24']);
    expect(t[2]).toMatchObject({ gateway: '10.244.2.0', dev: 'flannel.1', onlink: true });
    expect(t[1]).toMatchObject({ dev: 'eth0', scope: 'link', protocol: 'kernel', onlink: false });
    expect(t[1].gateway).toBeUndefined();
    expect(formatRoute(t[2])).toBe('10.244.2.0/24 via 10.244.2.0 dev flannel.1 onlink');
  });

  it('a host route without /len is a /32', () => {
    expect(parseTextRoutes('10.77.1.5 dev eth0 scope link')[0].dst).toBe('10.77.1.5/32');
  });

  it('tells directly connected peers (same L2) from routed ones', () => {
    const table = parseJsonRoutes(JSON_TABLE);
    expect(isDirectlyConnected(table, '10.77.1.12', '10.244.0.0/16')).toBe(true);
    expect(isDirectlyConnected(table, '10.88.0.9', '10.244.0.0/16')).toBe(false);
    expect(isDirectlyConnected(table, '192.168.1.1', '10.244.0.0/16')).toBe(false);
  });
});

describe('expected routes per backend', () => {
  const connected = (ip: string) => ip.startsWith('10.77.1.');
  const ctx = { iface: 'eth0', network: '10.244.0.0/16', peers, connected };

  it('vxlan: via the peer .0 dev flannel.<VNI> onlink', () => {
    const r = expectedRoutes({ ...vxlan(), vni: 4 }, ctx);
    expect(r.map(formatRoute)).toEqual([
      '10.244.2.0/24 via 10.244.2.0 dev flannel.4 onlink',
      '10.244.9.0/24 via 10.244.9.0 dev flannel.4 onlink',
    ]);
  });

  it('vxlan DirectRouting: via the public IP for same-L2 peers, through flannel.1 for routed ones', () => {
    const r = expectedRoutes(vxlan(true), ctx);
    expect(r.map(formatRoute)).toEqual(['10.244.2.0/24 via 10.77.1.12', '10.244.9.0/24 via 10.244.9.0 dev flannel.1 onlink']);
  });

  it('host-gw: via the public IP dev <iface>', () => {
    const r = expectedRoutes({ type: 'host-gw' }, { ...ctx, iface: 'ens3' });
    expect(r.map(formatRoute)).toEqual(['10.244.2.0/24 via 10.77.1.12 dev ens3', '10.244.9.0/24 via 10.88.0.9 dev ens3']);
  });

  it('ipip: onlink via flannel.ipip, or dev <iface> for same-L2 peers with DirectRouting', () => {
    expect(expectedRoutes({ type: 'ipip', directRouting: false }, ctx).map(formatRoute)[0]).toBe('10.244.2.0/24 via 10.77.1.12 dev flannel.ipip onlink');
    expect(expectedRoutes({ type: 'ipip', directRouting: true }, ctx).map(formatRoute)).toEqual([
      '10.244.2.0/24 via 10.77.1.12 dev eth0',
      '10.244.9.0/24 via 10.88.0.9 dev flannel.ipip onlink',
    ]);
  });

  it('wireguard: one route for the whole Network', () => {
    expect(expectedRoutes({ type: 'wireguard', listenPort: 51820, persistentKeepaliveInterval: 0 }, ctx).map(formatRoute)).toEqual(['10.244.0.0/16 dev flannel-wg']);
  });
});

describe('route comparison', () => {
  const ctx = { iface: 'eth0', network: '10.244.0.0/16', peers, connected: () => false };
  const leased = ['10.244.1.0/24', '10.244.2.0/24', '10.244.9.0/24'];

  it('passes when every peer lease has its route, the own bridge route included', () => {
    const actual = parseTextRoutes(`10.244.1.0/24 dev docker0 proto kernel scope link src 10.244.1.1
10.244.2.0/24 via 10.244.2.0 dev flannel.1 onlink
10.244.9.0/24 via 10.244.9.0 dev flannel.1 onlink`);
    const p = compareRoutes(expectedRoutes(vxlan(), ctx), actual, { network: '10.244.0.0/16', leased });
    expect(describeRouteProblems(p)).toBeUndefined();
  });

  it('names missing, wrong-form and stale routes', () => {
    const actual = parseTextRoutes(`10.244.2.0/24 via 10.77.1.12 dev eth0
10.244.44.0/24 via 10.244.44.0 dev flannel.1 onlink
10.245.0.0/24 via 10.77.1.1 dev eth0`);
    const p = compareRoutes(expectedRoutes(vxlan(), ctx), actual, { network: '10.244.0.0/16', leased });
    expect(p.missing.map((m) => m.peer)).toEqual(['node9']);
    expect(p.wrong).toHaveLength(1);
    expect(p.stale.map((r) => r.dst)).toEqual(['10.244.44.0/24']);
    const text = describeRouteProblems(p)!;
    expect(text).toContain('missing 10.244.9.0/24 via 10.244.9.0 dev flannel.1 onlink (node9)');
    expect(text).toContain('wrong 10.244.2.0/24 via 10.77.1.12 dev eth0, expected 10.244.2.0/24 via 10.244.2.0 dev flannel.1 onlink (node2)');
    expect(text).toContain('stale 10.244.44.0/24');
    expect(text).not.toContain('10.245.0.0');
  });

  it('a vxlan route without onlink does not count', () => {
    const actual = parseTextRoutes('10.244.2.0/24 via 10.244.2.0 dev flannel.1\n10.244.9.0/24 via 10.244.9.0 dev flannel.1 onlink');
    const p = compareRoutes(expectedRoutes(vxlan(), ctx), actual, { network: '10.244.0.0/16', leased });
    expect(p.wrong.map((w) => w.expected.peer)).toEqual(['node2']);
  });
});
