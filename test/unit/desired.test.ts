import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { readTlsMaterial } from '../../src/bootstrap/bootstrap.js';
import { desiredState, type Material } from '../../src/bootstrap/desired.js';
import { binaryFromBuffer } from '../../src/steps/binary.js';
import { ensureFlanneldCert } from '../../src/pki/index.js';
import { inventoryYaml, testInventory } from './bootstrap-fakes.js';

const bin = (s: string) => binaryFromBuffer(Buffer.from(s));
const material: Material = {
  tarball: { file: 'f.tgz', flanneld: bin('flanneld'), mkDockerOpts: bin('mk') },
  tls: { ca: 'CA', cert: 'CERT', key: 'KEY' },
};

describe('desiredState', () => {
  it('etcd config is the only cluster-wide step; node steps come in the documented order', async () => {
    const inv = await testInventory(inventoryYaml({ nodes: 3 }));
    const d = desiredState(inv, material, { mode: 'apply' });
    expect(d.cluster.map((s) => s.id)).toEqual(['etcd:config']);
    expect(d.nodes.map((n) => n.node.name)).toEqual(['node1', 'node2', 'node3']);
    expect(d.nodes[0].steps.map((s) => s.id)).toEqual([
      'litter:sweep',
      'cert:ca', 'cert:flanneld', 'cert:flanneld-key',
      'modules:file', 'modules:loaded', 'sysctl:file', 'sysctl:runtime',
      'binary:flanneld', 'binary:mk-docker-opts',
      'file:iptables-script', 'dir:log',
      'service:definition', 'service:flanneld',
      'lease:wait', 'iptables:rules', 'service:iptables-watcher',
    ]);
  });

  it('the service comes after everything it depends on, iptables rules after the lease', async () => {
    const inv = await testInventory(inventoryYaml({ service: 'systemd' }));
    const ids = desiredState(inv, material, { mode: 'check' }).nodes[0].steps.map((s) => s.id);
    const at = (id: string) => ids.indexOf(id);
    for (const dep of ['cert:flanneld-key', 'binary:flanneld', 'service:definition', 'sysctl:runtime']) expect(at(dep)).toBeLessThan(at('service:flanneld'));
    expect(at('lease:wait')).toBeGreaterThan(at('service:flanneld'));
    expect(at('iptables:rules')).toBeGreaterThan(at('lease:wait'));
    expect(ids).not.toContain('dir:log'); // systemd logs to the journal
  });

  it('plain-http etcd ships no certificates; masquerade flannel installs no iptables rules, only retires what an earlier run left', async () => {
    const inv = await testInventory(inventoryYaml({ masquerade: 'flannel' }).replace('https://', 'http://').replace(/(endpoints: .*\n)/, '$1  insecure: true\n'));
    const ids = desiredState(inv, { tarball: material.tarball }, { mode: 'apply' }).nodes[0].steps.map((s) => s.id);
    expect(ids.filter((i) => i.startsWith('cert:') || i.includes('iptables'))).toEqual(['iptables:retire-rules', 'iptables:retire-script']);
    const systemd = await testInventory(inventoryYaml({ masquerade: 'flannel', service: 'systemd' }));
    const sIds = desiredState(systemd, material, { mode: 'apply' }).nodes[0].steps.map((s) => s.id);
    // The guard goes before flanneld restarts (it would re-apply the old rules), the rules after.
    expect(sIds.indexOf('iptables:retire-guard')).toBeLessThan(sIds.indexOf('service:flanneld'));
    expect(sIds.indexOf('iptables:retire-rules')).toBeGreaterThan(sIds.indexOf('service:flanneld'));
  });

  it('a tarball without mk-docker-opts.sh skips that binary', async () => {
    const inv = await testInventory();
    const ids = desiredState(inv, { ...material, tarball: { file: 'f', flanneld: bin('x') } }, { mode: 'apply' }).nodes[0].steps.map((s) => s.id);
    expect(ids).not.toContain('binary:mk-docker-opts');
  });
});

describe('readTlsMaterial', () => {
  const dir = mkdtempSync(join(tmpdir(), 'flanctl-desired-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('reads the CA cert and the flanneld pair, never the CA key', async () => {
    const inv = await testInventory(inventoryYaml(), join(dir, 'inventory.yaml'));
    await ensureFlanneldCert(inv);
    const tls = readTlsMaterial(inv)!;
    const caKey = readFileSync(join(dir, 'pki', 'ca-key.pem'), 'utf8');
    expect(tls.ca).toContain('BEGIN CERTIFICATE');
    expect(tls.cert).toContain('BEGIN CERTIFICATE');
    expect(tls.key).toMatch(/PRIVATE KEY/);
    expect(Object.values(tls)).not.toContain(caKey);
    expect(tls.key).not.toBe(caKey);
  });
});
