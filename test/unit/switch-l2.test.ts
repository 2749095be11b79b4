import { describe, expect, it } from 'vitest';
import { fakeConnector } from '../../src/connector/fake.js';
import { checkL2Adjacency, type L2NodeFacts } from '../../src/switch/l2.js';
import { checkPrereqs, listeningUdpPorts } from '../../src/switch/prereqs.js';
import { testInventory } from './switch-fakes.js';

const addr = (iface: string, ...cidrs: string[]) =>
  JSON.stringify([{ ifname: iface, addr_info: cidrs.map((c) => ({ family: 'inet', local: c.split('/')[0], prefixlen: Number(c.split('/')[1]) })) }]);
const connected = (net: string, dev = 'eth0') => ({ dst: net, dev, protocol: 'kernel', scope: 'link' });

function node(name: string, ip: string, opts: { addrs?: string[]; routes?: object[]; publicIp?: string } = {}): L2NodeFacts {
  return {
    name,
    publicIp: opts.publicIp ?? ip,
    iface: 'eth0',
    addrJson: addr('eth0', ...(opts.addrs ?? [`${ip}/24`])),
    routeJson: JSON.stringify(opts.routes ?? [connected('10.77.0.0/24')]),
  };
}

describe('L2 adjacency rules (host-gw, DirectRouting)', () => {
  it('accepts nodes on one connected /24 with no gateway', () => {
    expect(checkL2Adjacency([node('a', '10.77.0.11'), node('b', '10.77.0.12'), node('c', '10.77.0.13')])).toEqual([]);
  });

  it('a public IP that is not the iface address is a problem of that node (NAT)', () => {
    const p = checkL2Adjacency([node('a', '10.77.0.11'), node('b', '10.77.0.12', { publicIp: '10.77.0.99' })]);
    expect(p).toEqual([expect.objectContaining({ node: 'b', message: expect.stringMatching(/public IP 10\.77\.0\.99 is not an address of eth0/) })]);
  });

  it('peers in another network are named pair by pair', () => {
    const p = checkL2Adjacency([
      node('a', '10.77.0.11'),
      node('b', '10.77.0.12'),
      node('c', '10.88.0.13', { routes: [connected('10.88.0.0/24'), { dst: 'default', gateway: '10.88.0.1', dev: 'eth0' }] }),
    ]);
    const pairs = p.map((x) => `${x.node}→${x.peer}`).sort();
    expect(pairs).toEqual(['a→c', 'b→c', 'c→a', 'c→b']);
  });

  it('a peer inside the iface network but routed via a gateway is not adjacent', () => {
    const routes = [connected('10.77.0.0/24'), { dst: '10.77.0.12', gateway: '10.77.0.1', dev: 'eth0' }];
    const p = checkL2Adjacency([node('a', '10.77.0.11', { routes }), node('b', '10.77.0.12')]);
    expect(p).toEqual([expect.objectContaining({ node: 'a', peer: 'b', message: expect.stringContaining('gateway 10.77.0.1') })]);
  });

  it('a peer reached through another device is not adjacent', () => {
    const routes = [connected('10.77.0.0/24'), { dst: '10.77.0.0/25', dev: 'tun0' }];
    const p = checkL2Adjacency([node('a', '10.77.0.11', { routes }), node('b', '10.77.0.12')]);
    expect(p[0]).toMatchObject({ node: 'a', peer: 'b' });
    expect(p[0].message).toContain('tun0');
  });

  it('a wider network on the iface covers peers of a narrower one', () => {
    const routes = [connected('10.77.0.0/16')];
    expect(checkL2Adjacency([node('a', '10.77.1.11', { addrs: ['10.77.1.11/16'], routes }), node('b', '10.77.2.12', { addrs: ['10.77.2.12/16'], routes })])).toEqual([]);
  });

  it('unreadable iproute2 output names the node', () => {
    const bad = { ...node('a', '10.77.0.11'), addrJson: 'garbage' };
    expect(checkL2Adjacency([bad])[0]).toMatchObject({ node: 'a', message: expect.stringContaining('cannot read') });
  });
});

describe('prerequisites on the nodes', () => {
  it('parses UDP listeners from ss', () => {
    const ss = 'UNCONN 0 0 0.0.0.0:8472 0.0.0.0:*\nUNCONN 0 0 [::]:51820 [::]:*\nUNCONN 0 0 127.0.0.53%lo:53 0.0.0.0:*\n';
    expect(listeningUdpPorts(ss)).toEqual([8472, 51820, 53]);
  });

  async function cluster(script: (name: string, c: ReturnType<typeof fakeConnector>) => void) {
    const inv = await testInventory();
    const conns = new Map(inv.nodes.map((n) => {
      const c = fakeConnector({ name: n.name });
      c.on(['ss', '-Hlunp'], { stdout: '' });
      c.on(['ip', '-d', '-j', 'link', 'show', 'type', 'vxlan'], { stdout: '[]' });
      c.on(['ip', 'link'], { code: 0 });
      c.on(['ip', '-j', 'addr', 'show', 'dev', 'eth0'], { stdout: addr('eth0', `${n.publicIp}/24`) });
      c.on(['ip', '-j', 'route', 'show', 'table', 'main'], { stdout: JSON.stringify([connected('10.77.0.0/24')]) });
      script(n.name, c);
      return [n.name, c];
    }));
    return { inv, conns, get: async (n: string) => conns.get(n)! };
  }

  it('wireguard needs kernel support: the test device is added and removed, a failure names the node', async () => {
    const { inv, conns, get } = await cluster((name, c) => {
      if (name === 'node2') c.on(['ip', 'link', 'add', 'flanctl-wgtest'], { code: 2, stderr: 'Error: Unknown device type.\n' });
    });
    const p = await checkPrereqs(inv, { type: 'vxlan', vni: 1, port: 8472 }, { type: 'wireguard', port: 51820 }, get, 3);
    expect(p).toEqual([{ node: 'node2', message: expect.stringContaining('no wireguard support') }]);
    expect(conns.get('node1')!.execs()).toContainEqual(['ip', 'link', 'del', 'flanctl-wgtest']);
    expect(conns.get('node2')!.execs()).not.toContainEqual(['ip', 'link', 'del', 'flanctl-wgtest']);
  });

  it('vxlan needs its UDP port free, except when the current vxlan device holds it', async () => {
    const { inv, get } = await cluster((name, c) => {
      if (name === 'node3') c.on(['ss', '-Hlunp'], { stdout: 'UNCONN 0 0 0.0.0.0:8472 0.0.0.0:*\n' });
    });
    const toVxlan = { type: 'vxlan', vni: 1, port: 8472 };
    expect(await checkPrereqs(inv, { type: 'host-gw' }, toVxlan, get, 3)).toEqual([{ node: 'node3', message: 'UDP port 8472 is already in use' }]);
    expect(await checkPrereqs(inv, { type: 'vxlan', vni: 1, port: 8472 }, { ...toVxlan, directRouting: true }, get, 3)).toEqual([]);
  });

  it('a port held by a leftover flannel vxlan device is fine (cleanup deletes it); a process or a foreign device is not', async () => {
    const vx = (name: string, port: number) => JSON.stringify([{ ifname: name, linkinfo: { info_kind: 'vxlan', info_data: { id: 1, port } } }]);
    const { inv, get } = await cluster((name, c) => {
      const kernel = 'UNCONN 0 0 0.0.0.0:8472 0.0.0.0:*\n';
      if (name === 'node1') c.on(['ss', '-Hlunp'], { stdout: kernel }), c.on(['ip', '-d', '-j', 'link', 'show', 'type', 'vxlan'], { stdout: vx('flannel.1', 8472) });
      if (name === 'node2') c.on(['ss', '-Hlunp'], { stdout: 'UNCONN 0 0 0.0.0.0:8472 0.0.0.0:* users:(("socat",pid=42,fd=5))\n' });
      if (name === 'node3') c.on(['ss', '-Hlunp'], { stdout: kernel }), c.on(['ip', '-d', '-j', 'link', 'show', 'type', 'vxlan'], { stdout: vx('vx-tenant', 8472) });
    });
    expect(await checkPrereqs(inv, { type: 'host-gw' }, { type: 'vxlan', vni: 1, port: 8472 }, get, 3)).toEqual([
      { node: 'node2', message: 'UDP port 8472 is already in use (by socat)' },
      { node: 'node3', message: 'UDP port 8472 is already in use (by vxlan device vx-tenant)' },
    ]);
  });

  it('host-gw runs the L2 check on every node and explains why', async () => {
    const { inv, get } = await cluster((name, c) => {
      if (name === 'node1') c.on(['ip', '-j', 'route', 'show', 'table', 'main'], { stdout: JSON.stringify([connected('10.77.0.0/24'), { dst: '10.77.0.13', gateway: '10.77.0.1', dev: 'eth0' }]) });
    });
    const p = await checkPrereqs(inv, { type: 'vxlan', vni: 1, port: 8472 }, { type: 'host-gw' }, get, 3);
    expect(p).toHaveLength(1);
    expect(p[0]).toMatchObject({ node: 'node1', peer: 'node3' });
    expect(p[0].message).toContain('host-gw needs every node on one L2 segment');
  });

  it('an unreachable node is a problem, not a crash', async () => {
    const { inv } = await cluster(() => {});
    const p = await checkPrereqs(inv, { type: 'vxlan' }, { type: 'host-gw' }, async (n) => {
      if (n === 'node2') throw new Error('connect ECONNREFUSED');
      return fakeConnector({ name: n, defaultExec: { stdout: '[]' } });
    }, 3);
    expect(p.some((x) => x.node === 'node2' && /ECONNREFUSED/.test(x.message))).toBe(true);
  });
});
