import { describe, expect, it } from 'vitest';
import { parseInventory } from '../../src/model/inventory.js';
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

describe('inventory schema (foundation)', () => {
  const file = '/srv/cluster/inventory.yaml';
  const problems = async (text: string) => {
    const err = await parseInventory(text, file).catch((e) => e);
    expect(err).toBeInstanceOf(InventoryError);
    return (err as InventoryError).problems;
  };

  it('fills every default', async () => {
    const { inventory } = await parseInventory(minimal, file);
    expect(inventory.etcd).toMatchObject({ prefix: '/coreos.com/network', api: 'v3' });
    expect(inventory.pki).toMatchObject({ ca: { cn: 'flannel-ca', expiry: '87600h' }, flanneld: { cn: 'flanneld', key: { algo: 'rsa', size: 2048 }, expiry: '8760h' } });
    expect(inventory.flannel).toMatchObject({
      installDir: '/opt/flannel/bin', configDir: '/etc/flannel', subnetFile: '/run/flannel/subnet.env', service: 'systemd', healthzPort: 2401, subnetLeaseRenewMargin: 60,
    });
    expect(inventory.iptables).toEqual({ masquerade: 'tightened', bridge: 'docker0', forwardAccept: true });
    expect(inventory.ssh).toMatchObject({ user: 'root', port: 22, concurrency: 64 });
    expect(inventory.nodes[0].iface).toBe('eth0');
  });

  it('derives ipMasq from iptables.masquerade: flannel', async () => {
    const { inventory } = await parseInventory(`${minimal}iptables: { masquerade: flannel }\n`, file);
    expect(inventory.ipMasq).toBe(true);
  });

  it('resolves local paths against the inventory folder and ~ against home', async () => {
    const text = minimal.replace('etcd:\n', 'etcd:\n  certFile: certs/me.pem\n  keyFile: /abs/me-key.pem\n') + 'ssh: { identityFile: ~/.ssh/id_ed25519 }\npki: { dir: ../pki }\n';
    const { inventory } = await parseInventory(text, file);
    expect(inventory.etcd.certFile).toBe('/srv/cluster/certs/me.pem');
    expect(inventory.etcd.keyFile).toBe('/abs/me-key.pem');
    expect(inventory.pki.dir).toBe('/srv/pki');
    expect(inventory.ssh.identityFile).toMatch(/\/\.ssh\/id_ed25519$/);
    expect(inventory.ssh.identityFile!.startsWith('~')).toBe(false);
  });

  it.each([
    ['an unknown key', minimal.replace('network:\n', 'network:\n  subnetLength: 24\n'), 'network', /unknown key subnetLength/, 3],
    ['a string where a number belongs', minimal.replace('network:\n', 'network:\n  subnetLen: "24"\n'), 'network.subnetLen', /number/i, 3],
    ['an endpoint without a scheme', minimal.replace('[https://10.77.0.1:2379]', '[10.77.0.1:2379]'), 'etcd.endpoints[0]', /http\(s\):\/\/host:port/, 5],
    ['an unknown etcd api', minimal.replace('etcd:\n', 'etcd:\n  api: v4\n'), 'etcd.api', /.+/, 5],
    ['a relative remote path', `${minimal}`.replace('flannel:\n', 'flannel:\n  installDir: opt/flannel\n'), 'flannel.installDir', /absolute/, 7],
    ['a service manager flanctl does not know', minimal.replace('flannel:\n', 'flannel:\n  service: openrc\n'), 'flannel.service', /.+/, 7],
    ['an expiry in days', minimal + 'pki: { flanneld: { expiry: 365d } }\n', 'pki.flanneld.expiry', /hours such as 8760h/, 10],
    ['a node without host', minimal.replace('{ name: node1, host: 10.77.0.11 }', '{ name: node1 }'), 'nodes[0].host', /.+/, 9],
    ['no nodes', minimal.replace(/nodes:\n.*\n/, 'nodes: []\n'), 'nodes', /at least one node/, 8],
    ['a bad hostKeyFingerprint', minimal.replace('host: 10.77.0.11', 'host: 10.77.0.11, hostKeyFingerprint: MD5:aa'), 'nodes[0].hostKeyFingerprint', /SHA256/, 9],
  ])('rejects %s with its path and line', async (_what, text, path, message, line) => {
    const found = (await problems(text)).find((p) => p.path === path);
    expect(found, JSON.stringify(await problems(text))).toBeDefined();
    expect(found!.message).toMatch(message);
    expect(found!.line).toBe(line);
  });

  it('reports a YAML syntax error with its line', async () => {
    const [p] = await problems('network:\n  cidr: [10.0.0.0/8\nnodes: x\n');
    expect(p.path).toBe('(yaml)');
    expect(p.line).toBeGreaterThan(0);
  });

  it('an empty file names the missing sections', async () => {
    const paths = (await problems('')).map((p) => p.path);
    expect(paths).toEqual(expect.arrayContaining(['network', 'etcd', 'flannel', 'nodes']));
  });

  it('inventory.example.yaml is valid', async () => {
    const { readFileSync } = await import('node:fs');
    const text = readFileSync(new URL('../../inventory.example.yaml', import.meta.url), 'utf8');
    const { inventory } = await parseInventory(text, file);
    expect(inventory.nodes).toHaveLength(3);
    expect(inventory.network.backend).toMatchObject({ type: 'vxlan', vni: 1, port: 8472, directRouting: false });
  });
});
