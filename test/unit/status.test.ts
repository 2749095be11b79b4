import { describe, expect, it } from 'vitest';
import { EtcdError } from '../../src/errors.js';
import { memoryKv } from '../../src/kv/memory.js';
import { joinLeases, readStatus, renderStatus } from '../../src/verify/status.js';
import { simCluster } from './verify-fakes.js';

const P = '/coreos.com/network/subnets/';

describe('status: leases joined with the inventory', () => {
  it('joins by PublicIP, sorts by subnet, flags unknown hosts and nodes without a lease', async () => {
    const { inv } = await simCluster({ nodes: 3 });
    const kv = memoryKv({
      [`${P}10.244.30.0-24`]: JSON.stringify({ PublicIP: '10.77.1.12', PublicIPv6: null, BackendType: 'vxlan', BackendData: { VNI: 1, VtepMAC: 'b6:80:ae:fb:63:cb' } }),
      [`${P}10.244.4.0-24`]: JSON.stringify({ PublicIP: '10.77.1.11', BackendType: 'vxlan', BackendData: { VtepMAC: '8e:62:43:ff:58:52' } }),
      [`${P}10.244.9.0-24`]: JSON.stringify({ PublicIP: '192.0.2.50', BackendType: 'host-gw' }),
      '/coreos.com/network/config': '{"Network":"10.244.0.0/16"}',
    }, 'v2');
    kv.ttls.set(`${P}10.244.30.0-24`, 86_000);
    const report = await readStatus(inv, kv);
    expect(report.api).toBe('v2');
    expect(report.leases.map((l) => [l.subnet, l.node, l.vtepMac, l.ttlSeconds])).toEqual([
      ['10.244.4.0/24', 'node1', '8e:62:43:ff:58:52', null],
      ['10.244.9.0/24', null, null, null],
      ['10.244.30.0/24', 'node2', 'b6:80:ae:fb:63:cb', 86_000],
    ]);
    expect(report.leases[2].expiresIn).toBe('23h53m');
    expect(report.leases[1].flags).toEqual(['unknown host', 'backend host-gw ≠ inventory vxlan']);
    expect(report.nodesWithoutLease).toEqual(['node3']);
    expect(report.unknownHosts).toEqual(['192.0.2.50']);
    const text = renderStatus(report);
    expect(text).toMatch(/10\.244\.30\.0\/24\s+node2\s+10\.77\.1\.12\s+vxlan\s+b6:80:ae:fb:63:cb\s+23h53m/);
    expect(text).toContain('! node3: no lease in etcd');
    expect(text).toContain('! 192.0.2.50: lease of a host not in the inventory');
  });

  it('flags two leases for one host', async () => {
    const { inv } = await simCluster({ nodes: 1 });
    const v = JSON.stringify({ PublicIP: '10.77.1.11', BackendType: 'vxlan' });
    const r = joinLeases(inv, [
      { key: 'a', subnet: '10.244.1.0/24', publicIp: '10.77.1.11', backendType: 'vxlan', value: v, ttl: 600 },
      { key: 'b', subnet: '10.244.2.0/24', publicIp: '10.77.1.11', backendType: 'vxlan', value: v },
    ], 'v3');
    expect(r.leases[0].flags).toEqual(['duplicate PublicIP', 'expiring']);
    expect(r.leases[1].expiresIn).toBe('no expiry (reservation)');
    expect(r.nodesWithoutLease).toEqual([]);
  });

  it('etcd errors become EtcdError (exit 1)', async () => {
    const { inv } = await simCluster({ nodes: 1 });
    const kv = memoryKv();
    kv.failWith(new Error('connection refused'));
    const err = await readStatus(inv, kv).catch((e) => e);
    expect(err).toBeInstanceOf(EtcdError);
    expect(err.exitCode).toBe(1);
    expect(err.message).toContain('connection refused');
  });
});
