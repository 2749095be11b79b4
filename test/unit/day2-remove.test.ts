import { describe, expect, it } from 'vitest';
import { findLeftovers } from '../../src/reset/peer-cleanup.js';
import { removeNodeText } from '../../src/reset/inventory-remove.js';

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
