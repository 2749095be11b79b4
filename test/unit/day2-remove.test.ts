import { describe, expect, it } from 'vitest';
import { findLeftovers } from '../../src/reset/peer-cleanup.js';
import { removeNodeText } from '../../src/reset/inventory-remove.js';
import { dropRemovedNodeRules, removedNodeRules } from '../../src/reset/peer-firewall.js';
import { fakeConnector } from '../../src/connector/fake.js';
import { remotePaths, renderIptablesScript } from '../../src/model/templates.js';
import { load, nodes } from './foundation-fixture.js';

describe('peer leftovers of a removed node', () => {
  const gone = { name: 'node3', publicIp: '10.77.0.13', subnet: '10.244.7.0/24', vtepMac: 'aa:bb:cc:dd:ee:03', network: '10.244.0.0/16' };
  it('finds the route, ARP and FDB entries of that node only', () => {
    const left = findLeftovers(gone, {
      routes: ['10.244.5.0/24 via 10.244.5.0 dev flannel.1 onlink', '10.244.7.0/24 via 10.244.7.0 dev flannel.1 onlink', '10.77.0.0/24 dev eth0 proto kernel scope link src 10.77.0.11', '192.168.9.0/24 via 10.77.0.13 dev eth0'].join('\n'),
      neigh: ['10.244.5.0 dev flannel.1 lladdr aa:bb:cc:dd:ee:02 PERMANENT', '10.244.7.0 dev flannel.1 lladdr aa:bb:cc:dd:ee:03 PERMANENT', '10.77.0.13 dev eth0 lladdr 11:22:33:44:55:66 REACHABLE'].join('\n'),
      fdb: ['aa:bb:cc:dd:ee:02 dev flannel.1 dst 10.77.0.12 self permanent', 'aa:bb:cc:dd:ee:03 dev flannel.1 dst 10.77.0.13 self permanent', '33:33:00:00:00:01 dev eth0 self permanent'].join('\n'),
    });
    expect(left.map((l) => l.argv.join(' '))).toEqual([
      'ip route del 10.244.7.0/24 via 10.244.7.0 dev flannel.1',
      'ip neigh del 10.244.7.0 dev flannel.1',
      'bridge fdb del aa:bb:cc:dd:ee:03 dev flannel.1 dst 10.77.0.13',
    ]);
  });
  it('host-gw: the route via the public IP inside the network, also without a known subnet', () => {
    const left = findLeftovers({ ...gone, subnet: undefined, vtepMac: undefined }, { routes: '10.244.7.0/24 via 10.77.0.13 dev eth0\n192.168.9.0/24 via 10.77.0.13 dev eth0', neigh: '', fdb: '' });
    expect(left.map((l) => l.argv.join(' '))).toEqual(['ip route del 10.244.7.0/24 via 10.77.0.13 dev eth0']);
  });
});

describe('removing a node from the inventory file', () => {
  const text = `# my cluster
network:
  cidr: 10.244.0.0/16 # the pod network
nodes:
  # the control plane
  - name: node1
    host: 10.77.0.11
  - name: node2 # goes away
    host: 10.77.0.12
  - { name: node3, host: 10.77.0.13 } # flow style
`;
  it('keeps comments and the other nodes', () => {
    const out = removeNodeText(text, 'node2');
    expect(out).not.toContain('node2');
    expect(out).toContain('# my cluster');
    expect(out).toContain('cidr: 10.244.0.0/16 # the pod network');
    expect(out).toContain('# the control plane');
    expect(out).toContain('{ name: node3, host: 10.77.0.13 } # flow style');
    expect(removeNodeText(text, 'node9')).toBe(text);
  });
});

describe("a removed node's openBackend ACCEPT rules on the remaining peers", () => {
  it('rewrites the script without the node, restarts the watcher first, then deletes exactly its rule (flanctl comment included)', async () => {
    const inv = await load({ iptables: { openBackend: true }, flannel: { service: 'supervisord' }, nodes: nodes(3) });
    const rest = { ...inv, nodes: inv.nodes.filter((n) => n.name !== 'node3') };
    const gone = inv.nodes[2].publicIp;
    const rules = removedNodeRules(inv, rest);
    expect(rules.map((r) => `${r.chain} ${r.spec.join(' ')}`)).toEqual([`INPUT -s ${gone} -p udp --dport 8472 -m comment --comment flanctl -j ACCEPT`]);
    const script = remotePaths(inv).iptablesScript;
    let present = 2; // inserted twice
    const conn = fakeConnector({ name: 'node1', files: { [script]: renderIptablesScript(inv) } })
      .on(['supervisorctl', 'status'], { code: 0, stdout: 'flanctl-iptables RUNNING pid 7, uptime 0:01:00\n' })
      .on(['supervisorctl', 'restart'], { code: 0, stdout: 'flanctl-iptables: stopped\nflanctl-iptables: started\n' })
      .on((a) => a.includes('-C'), () => ({ code: present > 0 ? 0 : 1 }))
      .on((a) => a.includes('-D'), () => ({ code: present-- > 0 ? 0 : 1 }));
    const done = await dropRemovedNodeRules(conn, inv, rest);
    expect(conn.text(script)).toBe(renderIptablesScript(rest));
    expect(conn.text(script)).not.toContain(gone);
    expect(present).toBe(0);
    const execs = conn.execs().map((a) => a.join(' '));
    const restart = execs.findIndex((a) => a.startsWith('supervisorctl restart flanctl-iptables'));
    const firstDelete = execs.findIndex((a) => a.includes(' -D '));
    expect(restart, execs.join('\n')).toBeGreaterThanOrEqual(0);
    expect(restart).toBeLessThan(firstDelete);
    expect(execs.filter((a) => a.includes(' -D '))).toEqual(Array(2).fill(`iptables -w 5 -t filter -D INPUT -s ${gone} -p udp --dport 8472 -m comment --comment flanctl -j ACCEPT`));
    expect(done).toEqual([`file ${script} (without the node's rules)`, 'restarted flanctl-iptables', `iptables -t filter INPUT -s ${gone} -p udp --dport 8472 -m comment --comment flanctl -j ACCEPT`]);
  });

  it('does nothing without openBackend, or when another node keeps the same public IP rule', async () => {
    const off = await load({ nodes: nodes(3) });
    const conn = fakeConnector();
    expect(await dropRemovedNodeRules(conn, off, { ...off, nodes: off.nodes.slice(0, 2) })).toEqual([]);
    expect(conn.calls).toEqual([]);
    const on = await load({ iptables: { openBackend: true }, nodes: nodes(3) });
    expect(removedNodeRules(on, on)).toEqual([]);
  });
});
