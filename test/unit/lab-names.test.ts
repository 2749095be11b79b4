import { describe, expect, it } from 'vitest';
import { parseInventory } from '../../src/model/inventory.js';
import { labInventory } from '../../src/lab/inventory.js';
import { MAX_INDEX, MAX_NODES, labNames, nodeNames, nodeNumber } from '../../src/lab/names.js';
import { aptLine } from '../../src/lab/deps.js';
import { labDir } from '../../src/lab/lab.js';

describe('lab names', () => {
  it('keeps every interface name within the kernel limit of 15 characters, even for the largest lab', () => {
    const k = MAX_INDEX;
    expect(labNames(k).bridge.length).toBeLessThanOrEqual(15);
    expect(nodeNames(k, MAX_NODES).veth.length).toBeLessThanOrEqual(15);
    expect(nodeNames(k, MAX_NODES).ip).toBe(`10.77.${k}.${10 + MAX_NODES}`);
    expect(10 + MAX_NODES).toBeLessThan(255);
  });

  it('gives labs disjoint names and addresses', () => {
    const a = nodeNames(1, 12);
    const b = nodeNames(11, 2);
    expect(a.veth).not.toBe(b.veth); // flanlab1n12 vs flanlab11n2
    expect(a.netns).not.toBe(b.netns);
    expect(labNames(3).etcdClientUrl).toBe('https://10.77.3.1:2379');
    expect(labNames(3).etcdPeerUrl).toBe('http://10.77.3.1:2380');
    expect(nodeNumber('node7')).toBe(7);
    expect(nodeNumber('node07')).toBeUndefined();
  });

  it('writes an inventory that the inventory schema accepts as is', async () => {
    const names = labNames(5);
    const nodes = [1, 2, 3].map((i) => nodeNames(5, i));
    const raw = labInventory('/srv/lab', names, nodes, '/srv/flannel.tar.gz');
    const { stringify } = await import('yaml');
    const { inventory } = await parseInventory(stringify(raw), '/srv/lab/inventory.yaml');
    expect(inventory.nodes.map((n) => [n.name, n.host, n.publicIp, n.iface])).toEqual(nodes.map((n) => [n.name, n.ip, n.ip, 'eth0']));
    expect(inventory.ssh).toMatchObject({ user: 'root', identityFile: '/srv/lab/ssh/id_ed25519', knownHostsFile: '/srv/lab/ssh/known_hosts' });
    expect(inventory.pki.dir).toBe('/srv/lab/pki');
    expect(inventory.flannel).toMatchObject({ service: 'supervisord', tarball: '/srv/flannel.tar.gz' });
    expect(inventory.etcd.endpoints).toEqual(['https://10.77.5.1:2379']);
  });

  it('refuses lab dirs the nodes overlay, and names the exact apt-get line', () => {
    expect(() => labDir('/var/lib/lab')).toThrow(/cannot be/);
    expect(() => labDir('/')).toThrow(/cannot be/);
    expect(labDir('/srv/lab')).toBe('/srv/lab');
    expect(aptLine(['etcd-server', 'supervisor'])).toBe('apt-get install -y --no-install-recommends etcd-server supervisor');
  });
});
