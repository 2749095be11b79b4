import { describe, expect, it } from 'vitest';
import { parseInventory } from '../../src/inventory.js';
import { InventoryError } from '../../src/errors.js';

const minimal = `
network:
  cidr: 10.244.0.0/16
etcd:
  endpoints: [https://10.77.0.1:2379]
flannel:
  tarball: flannel.tar.gz
nodes:
  - { name: node1, host: 10.77.0.11 }
`;

describe('inventory loader', () => {
  it('applies defaults and resolves paths against the file folder', async () => {
    const { inventory } = await parseInventory(minimal, '/srv/cluster/inventory.yaml');
    expect(inventory.network.backend).toMatchObject({ type: 'vxlan', vni: 1, port: 8472 });
    expect(inventory.flannel.tarball).toBe('/srv/cluster/flannel.tar.gz');
    expect(inventory.pki.dir).toBe('/srv/cluster/pki');
    expect(inventory.nodes[0].publicIp).toBe('10.77.0.11');
    expect(inventory.ipMasq).toBe(false);
  });

  it('names the YAML path and line of a bad value, exit code 2', async () => {
    const bad = minimal.replace('iface: eth0', '').replace('host: 10.77.0.11', 'host: "10.77.0.11; rm -rf /"');
    const err = await parseInventory(bad, '/x/inventory.yaml').catch((e) => e);
    expect(err).toBeInstanceOf(InventoryError);
    expect(err.exitCode).toBe(2);
    expect(err.problems[0]).toMatchObject({ path: 'nodes[0].host', line: 9 });
    expect(err.message).toContain('nodes[0].host');
  });
});
