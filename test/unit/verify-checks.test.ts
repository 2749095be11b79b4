import forge from 'node-forge';
import { describe, expect, it } from 'vitest';
import { fakeConnector } from '../../src/connector/fake.js';
import type { Lease } from '../../src/model/leases.js';
import { checkLease, checkSubnetEnv, checkVxlanDevice, expectedMtu, formatTtl } from '../../src/verify/checks.js';
import { parseEnvFile } from '../../src/steps/util.js';
import { parseLinks, type NodeFacts } from '../../src/verify/facts.js';
import { HEALTHZ_SCRIPT } from '../../src/steps/service.js';
import { certExpiryCheck, checkCert, checkHealthz, checkIptables, checkService } from '../../src/verify/remote-checks.js';
import { flanctlIptablesRules } from '../../src/verify/node-layout.js';
import { simCluster } from './verify-fakes.js';

function selfSigned(days: number): string {
  const keys = forge.pki.rsa.generateKeyPair(512);
  const cert = forge.pki.createCertificate();
  cert.publicKey = keys.publicKey;
  cert.serialNumber = '01';
  cert.validity.notBefore = new Date(Date.now() - 86_400_000);
  cert.validity.notAfter = new Date(Date.now() + days * 86_400_000);
  cert.setSubject([{ name: 'commonName', value: 'flanneld' }]);
  cert.setIssuer([{ name: 'commonName', value: 'flanneld' }]);
  cert.sign(keys.privateKey, forge.md.sha256.create());
  return forge.pki.certificateToPem(cert);
}

const lease = (subnet: string, publicIp: string, extra: Partial<Lease> = {}): Lease => ({
  key: `/coreos.com/network/subnets/${subnet.replace('/', '-')}`, subnet, publicIp, backendType: 'vxlan', backendData: { VNI: 1, VtepMAC: 'aa:bb:cc:00:00:01' }, ttl: 3600 * 23 + 60, value: '{}', ...extra,
});

async function ctx() {
  const sim = await simCluster({ nodes: 2 });
  const node = sim.inv.nodes[0];
  const links = parseLinks(JSON.stringify([
    { ifname: 'eth0', mtu: 1500, flags: ['UP'], addr_info: [{ family: 'inet', local: node.publicIp, prefixlen: 24 }] },
    { ifname: 'flannel.1', mtu: 1450, flags: ['UP'], address: 'aa:bb:cc:00:00:01', linkinfo: { info_kind: 'vxlan', info_data: { id: 1, port: 8472 } }, addr_info: [{ family: 'inet', local: '10.244.1.0', prefixlen: 32 }] },
  ]));
  const facts: NodeFacts = { links, routes: [], subnetEnv: parseEnvFile('FLANNEL_NETWORK=10.244.0.0/16\nFLANNEL_SUBNET=10.244.1.1/24\nFLANNEL_MTU=1450\n'), errors: {} };
  return { inv: sim.inv, node, facts, leases: [lease('10.244.1.0/24', node.publicIp), lease('10.244.2.0/24', '10.77.1.12')] };
}

describe('node checks from facts', () => {
  it('MTU per backend', () => {
    expect(expectedMtu({ type: 'vxlan', vni: 1, port: 8472, directRouting: false, gbp: false }, 1500)).toBe(1450);
    expect(expectedMtu({ type: 'vxlan', vni: 1, port: 8472, directRouting: false, gbp: false, mtu: 9000 }, 1500)).toBe(8950);
    expect(expectedMtu({ type: 'host-gw' }, 1500)).toBe(1500);
    expect(expectedMtu({ type: 'ipip', directRouting: false }, 1500)).toBe(1480);
  });

  it('all pass on a consistent node', async () => {
    const c = await ctx();
    expect([checkSubnetEnv(c), checkLease(c), checkVxlanDevice(c)!].map((x) => [x.name, x.ok])).toEqual([['subnet.env', true], ['lease', true], ['flannel.1', true]]);
    expect(checkLease(c).detail).toBe('10.244.1.0/24, vxlan, 23h01m left');
  });

  it('subnet.env: missing, or not matching the lease', async () => {
    const c = await ctx();
    expect(checkSubnetEnv({ ...c, facts: { ...c.facts, subnetEnv: undefined } }).detail).toBe('/run/flannel/subnet.env not found');
    const env = { ...c.facts.subnetEnv!, FLANNEL_SUBNET: '10.244.9.1/24' };
    const r = checkSubnetEnv({ ...c, facts: { ...c.facts, subnetEnv: env } });
    expect(r).toMatchObject({ ok: false, detail: 'FLANNEL_SUBNET=10.244.9.1/24, lease says 10.244.1.1/24' });
  });

  it('lease: none, several, or another backend', async () => {
    const c = await ctx();
    expect(checkLease({ ...c, leases: c.leases.slice(1) }).detail).toBe('no lease in etcd with PublicIP 10.77.1.11');
    expect(checkLease({ ...c, leases: [...c.leases, lease('10.244.5.0/24', '10.77.1.11')] }).detail).toMatch(/^2 leases with PublicIP 10\.77\.1\.11/);
    expect(checkLease({ ...c, leases: [lease('10.244.1.0/24', '10.77.1.11', { backendType: 'host-gw' })] })).toMatchObject({ ok: false, detail: '10.244.1.0/24: BackendType host-gw, inventory says vxlan' });
  });

  it('flannel.1: wrong MTU, VNI, address and MAC are all named', async () => {
    const c = await ctx();
    const dev = c.facts.links[1];
    const bad = { ...dev, mtu: 1500, vxlan: { id: 7, port: 4789 }, addrs: [], mac: '11:22:33:44:55:66' };
    const r = checkVxlanDevice({ ...c, facts: { ...c.facts, links: [c.facts.links[0], bad] } })!;
    expect(r.ok).toBe(false);
    for (const s of ['VNI 7, expected 1', 'port 4789, expected 8472', 'MTU 1500, expected 1450', 'address 10.244.1.0/32 missing', 'lease VtepMAC aa:bb:cc:00:00:01']) expect(r.detail).toContain(s);
    expect(checkVxlanDevice({ ...c, facts: { ...c.facts, links: [c.facts.links[0]] } })?.detail).toBe('flannel.1 not found');
  });

  it('formats lease time left', () => {
    expect(formatTtl(86399)).toBe('23h59m');
    expect(formatTtl(125)).toBe('2m05s');
    expect(formatTtl(undefined)).toBe('no expiry (reservation)');
  });
});

describe('remote checks', () => {
  it('service: systemd is-active and supervisord status', async () => {
    const sim = await simCluster({ nodes: 1 });
    const node = sim.inv.nodes[0];
    const conn = fakeConnector({ name: 'n' }).on(['systemctl', 'is-active', 'flanneld'], { code: 3, stdout: 'failed\n' });
    expect(await checkService(conn, { ...sim.inv, flannel: { ...sim.inv.flannel, service: 'systemd' } }, node)).toMatchObject({ ok: false, detail: 'flanneld failed (systemd)' });
    conn.on(['supervisorctl'], { stdout: 'flanneld   FATAL   Exited too quickly\n', code: 3 });
    expect(await checkService(conn, sim.inv, node)).toMatchObject({ ok: false, detail: 'flanneld FATAL Exited too quickly (supervisord)' });
  });

  it('healthz: skipped when the node has no HTTP client', async () => {
    const sim = await simCluster({ nodes: 1 });
    const conn = fakeConnector({ name: 'n' }).on(['sh', '-c', HEALTHZ_SCRIPT, 'flanctl-healthz', '127.0.0.1', '2401'], { stdout: 'none\n' });
    expect(await checkHealthz(conn, sim.inv.nodes[0], '127.0.0.1', 2401)).toMatchObject({ ok: true, skipped: true, detail: 'skipped: no http client (curl or wget) on the node' });
  });

  it('cert: fails within --warn-days, passes beyond, fails when absent', async () => {
    const pem = selfSigned(20);
    expect(certExpiryCheck('n', '/etc/flannel/flanneld.pem', pem, 30)).toMatchObject({ ok: false, detail: expect.stringContaining('under --warn-days 30') });
    expect(certExpiryCheck('n', '/etc/flannel/flanneld.pem', pem, 10)).toMatchObject({ ok: true });
    const sim = await simCluster({ nodes: 1 });
    expect(await checkCert(fakeConnector(), sim.inv.nodes[0], '/etc/flannel/flanneld.pem', 30)).toMatchObject({ ok: false, detail: '/etc/flannel/flanneld.pem not found' });
  });

  it('iptables: names missing flanctl rules and an unwanted Docker MASQUERADE rule', async () => {
    const sim = await simCluster({ nodes: 1 });
    const s = sim.nodes[0];
    const rules = flanctlIptablesRules(sim.inv, s.subnet);
    expect(rules.ensure).toHaveLength(3);
    const ok = await checkIptables(s.conn, sim.inv.nodes[0], rules, 'tightened');
    expect(ok).toMatchObject({ ok: true, detail: '3 flanctl rules present (tightened)' });
    s.iptables.delete(`filter FORWARD -d 10.244.0.0/16 -m comment --comment flanctl -j ACCEPT`);
    s.iptables.add(`nat POSTROUTING -s ${s.subnet} ! -o docker0 -j MASQUERADE`);
    const bad = await checkIptables(s.conn, sim.inv.nodes[0], rules, 'tightened');
    expect(bad.ok).toBe(false);
    expect(bad.detail).toBe('missing -t filter FORWARD -d 10.244.0.0/16 -m comment --comment flanctl -j ACCEPT; unwanted -t nat POSTROUTING -s 10.244.1.0/24 ! -o docker0 -j MASQUERADE');
    expect(s.conn.execs().every((a) => a[0] === 'iptables' && a.includes('-C'))).toBe(true);
  });
});
