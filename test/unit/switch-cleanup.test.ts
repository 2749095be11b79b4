import { describe, expect, it } from 'vitest';
import { describeBackend, describeConfigBackend, type BackendDesc } from '../../src/switch/backend-desc.js';
import { backendDevices, cleanupPlan, isFlannelDevice, staleRoutes, type NodeNetState } from '../../src/switch/cleanup.js';
import { buildPlan, redactConfig, renderPlan } from '../../src/switch/plan.js';

const NET = '10.244.0.0/16';
const vxlan: BackendDesc = { type: 'vxlan', vni: 1, port: 8472, directRouting: false };
const vxlanDr: BackendDesc = { ...vxlan, directRouting: true };
const vxlan7: BackendDesc = { ...vxlan, vni: 7 };
const hostGw: BackendDesc = { type: 'host-gw' };
const ipip: BackendDesc = { type: 'ipip', directRouting: false };
const wg: BackendDesc = { type: 'wireguard', port: 51820 };
const ipsec: BackendDesc = { type: 'ipsec' };

const base = (extra: Partial<NodeNetState> = {}): NodeNetState => ({
  links: ['lo', 'eth0', 'docker0', 'tunl0'],
  routes: [
    { dst: '10.77.0.0/24', dev: 'eth0', protocol: 'kernel', scope: 'link' },
    { dst: '10.244.1.0/24', dev: 'docker0', protocol: 'kernel', scope: 'link' },
    { dst: '192.168.9.0/24', gateway: '10.77.0.1', dev: 'eth0' },
  ],
  ownSubnet: '10.244.1.0/24',
  ...extra,
});

/** A node as each backend leaves it: its devices and its peer routes (FLANNEL.md §4). */
function leftBy(b: BackendDesc): NodeNetState {
  const s = base();
  const peers = ['10.244.2.0/24', '10.244.3.0/24'];
  if (b.type === 'vxlan') {
    s.links.push(`flannel.${b.vni}`);
    for (const p of peers) s.routes.push(b.directRouting ? { dst: p, gateway: `10.77.0.${p.split('.')[2]}`, dev: 'eth0' } : { dst: p, gateway: p.split('/')[0], dev: `flannel.${b.vni}`, flags: ['onlink'] });
  } else if (b.type === 'host-gw') {
    for (const p of peers) s.routes.push({ dst: p, gateway: `10.77.0.1${p.split('.')[2]}`, dev: 'eth0' });
  } else if (b.type === 'ipip') {
    s.links.push('flannel.ipip');
    for (const p of peers) s.routes.push({ dst: p, gateway: `10.77.0.1${p.split('.')[2]}`, dev: 'flannel.ipip', flags: ['onlink'] });
  } else if (b.type === 'wireguard') {
    s.links.push('flannel-wg');
    s.routes.push({ dst: NET, dev: 'flannel-wg', scope: 'link' });
  }
  return s;
}

describe('cleanup plans per (from, to) backend pair', () => {
  const pairs: Array<[string, BackendDesc, BackendDesc, string[], number, boolean]> = [
    // name, from, to, devices deleted, routes deleted, xfrm flush
    ['vxlan → host-gw', vxlan, hostGw, ['flannel.1'], 2, false],
    ['host-gw → vxlan', hostGw, vxlan, [], 2, false],
    ['vxlan → vxlan DirectRouting', vxlan, vxlanDr, ['flannel.1'], 2, false],
    ['vxlan DirectRouting → vxlan', vxlanDr, vxlan, ['flannel.1'], 2, false],
    ['vxlan VNI 1 → VNI 7', vxlan, vxlan7, ['flannel.1'], 2, false],
    ['vxlan → ipip', vxlan, ipip, ['flannel.1'], 2, false],
    ['ipip → wireguard', ipip, wg, ['flannel.ipip'], 2, false],
    ['wireguard → vxlan', wg, vxlan, ['flannel-wg'], 1, false],
    ['ipsec → vxlan', ipsec, vxlan, [], 0, true],
  ];
  for (const [name, from, to, devices, routes, xfrm] of pairs) {
    it(name, () => {
      const plan = cleanupPlan(from, to, NET, leftBy(from));
      expect(plan.devices.map((d) => d.name)).toEqual(devices);
      expect(plan.routes).toHaveLength(routes);
      expect(plan.xfrmFlush).toBe(xfrm);
      // the own bridge route, the node network and routes outside the Network always stay
      const kept = plan.routes.map((r) => r.route.dst);
      expect(kept).not.toContain('10.244.1.0/24');
      expect(kept).not.toContain('10.77.0.0/24');
      expect(kept).not.toContain('192.168.9.0/24');
      // routes go before devices; xfrm last
      const kinds = plan.actions.map((a) => a.argv.slice(0, 2).join(' '));
      expect(kinds).toEqual([...kinds].sort((a, b) => order(a) - order(b)));
      if (xfrm) expect(plan.actions.slice(-2).map((a) => a.argv)).toEqual([['ip', 'xfrm', 'state', 'flush'], ['ip', 'xfrm', 'policy', 'flush']]);
    });
  }
  const order = (k: string) => ({ 'ip route': 0, 'ip link': 1, 'ip xfrm': 2 })[k] ?? 9;

  it('deletes routes with their exact gateway and device', () => {
    const plan = cleanupPlan(vxlan, hostGw, NET, leftBy(vxlan));
    expect(plan.actions[0].argv).toEqual(['ip', 'route', 'del', '10.244.2.0/24', 'via', '10.244.2.0', 'dev', 'flannel.1']);
    expect(plan.actions.at(-1)!.argv).toEqual(['ip', 'link', 'del', 'flannel.1']);
  });

  it('also removes stale flannel devices from earlier backends, never tunl0 or the bridge', () => {
    const s = leftBy(hostGw);
    s.links.push('flannel.9', 'flannel-wg');
    const plan = cleanupPlan(hostGw, vxlan, NET, s);
    expect(plan.devices.map((d) => d.name)).toEqual(['flannel-wg', 'flannel.9']);
    expect(plan.devices.every((d) => /stale/.test(d.reason))).toBe(true);
  });

  it('a second run on a cleaned node plans nothing', () => {
    const s = leftBy(vxlan);
    const first = cleanupPlan(vxlan, hostGw, NET, s);
    const gone = new Set(first.devices.map((d) => d.name));
    const routesGone = new Set(first.routes.map((r) => r.route));
    const after: NodeNetState = { ...s, links: s.links.filter((l) => !gone.has(l)), routes: s.routes.filter((r) => !routesGone.has(r)) };
    expect(cleanupPlan(vxlan, hostGw, NET, after).actions).toEqual([]);
  });

  it('without observed state assumes the old backend device exists', () => {
    expect(cleanupPlan(vxlan7, hostGw, NET).devices.map((d) => d.name)).toEqual(['flannel.7']);
    expect(cleanupPlan(wg, vxlan, NET).devices.map((d) => d.name)).toEqual(['flannel-wg']);
  });

  it('keeps a connected route of a non-flannel device but removes one on a flannel device', () => {
    const routes = staleRoutes(NET, { routes: [
      { dst: '10.244.9.0/24', dev: 'flanctl-probe', protocol: 'kernel', scope: 'link' },
      { dst: NET, dev: 'flannel0', protocol: 'kernel', scope: 'link' },
    ] });
    expect(routes.map((r) => r.dev)).toEqual(['flannel0']);
  });
});

describe('backend descriptions', () => {
  it('reads the etcd Backend case-insensitively, Port 0 meaning 8472', () => {
    expect(describeConfigBackend('{"Network":"10.244.0.0/16","backend":{"type":"VXLAN","vni":4,"port":0,"directrouting":true}}'))
      .toEqual({ type: 'vxlan', vni: 4, port: 8472, directRouting: true });
    expect(describeConfigBackend('{"Network":"10.244.0.0/16"}')?.type).toBe('udp');
    expect(describeConfigBackend('not json')).toBeUndefined();
    expect(describeBackend({ type: 'vxlan', vni: 2, port: 0, directRouting: false, gbp: false }).port).toBe(8472);
  });

  it('knows every device name flanneld creates', () => {
    for (const d of ['flannel.1', 'flannel-v6.1', 'flannel.ipip', 'flannel-wg', 'flannel-wg-v6', 'flannel0']) expect(isFlannelDevice(d)).toBe(true);
    for (const d of ['tunl0', 'docker0', 'flannelx', 'cni0', 'flanctl-probe']) expect(isFlannelDevice(d)).toBe(false);
    expect(backendDevices(hostGw)).toEqual([]);
    expect(backendDevices(vxlan7)).toEqual(['flannel.7', 'flannel-v6.7']);
  });
});

describe('plan rendering', () => {
  it('shows devices with their entries, routes and the config diff', () => {
    const s = leftBy(vxlan);
    s.neigh = { 'flannel.1': 2 };
    s.fdb = { 'flannel.1': 2 };
    const plan = buildPlan(vxlan, hostGw, NET, { before: '{"Backend":{"Type":"vxlan"}}', after: '{"Backend":{"Type":"host-gw"}}' }, [{ node: 'node1', state: s }]);
    const text = renderPlan(plan).join('\n');
    expect(text).toContain('device flannel.1 (with 2 neighbour, 2 FDB entries)');
    expect(text).toContain('route 10.244.2.0/24 via 10.244.2.0 dev flannel.1');
    expect(text).toContain('-     "Type": "vxlan"');
    expect(text).toContain('+     "Type": "host-gw"');
  });

  it('never shows a wireguard PSK', () => {
    const before = JSON.stringify({ Network: NET, Backend: { Type: 'wireguard', PSK: 'c2VjcmV0LXBzay12YWx1ZQ==' } });
    const plan = buildPlan(wg, vxlan, NET, { before, after: '{"Backend":{"Type":"vxlan"}}' }, [{ node: 'node1' }]);
    expect(JSON.stringify(plan)).not.toContain('c2VjcmV0');
    expect(renderPlan(plan).join('\n')).toContain('<redacted>');
    expect(redactConfig('{"backend":{"psk":"x"}}')).toBe('{"backend":{"psk":"<redacted>"}}');
  });
});
