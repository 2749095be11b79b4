/**
 * Issue 12: inventory values that would let a run escape its bounds are refused by validation (exit 2,
 * naming the YAML path): option injection through interface names, etcd prefixes leaving /v2/keys,
 * remote paths in world-writable directories (root scripts would read what another user planted).
 */
import { describe, expect, it } from 'vitest';
import { load, problemsOf } from './foundation-fixture.js';

const paths = async (patch: Record<string, unknown>) => (await problemsOf(patch)).map((p) => p.path);

describe('validation refuses what root would otherwise trust', () => {
  it('interface and bridge names may not start with - (option injection into ip / iptables)', async () => {
    expect(await paths({ nodes: [{ name: 'node1', host: '10.77.0.11', iface: '-all' }] })).toEqual(['nodes[0].iface']);
    expect(await paths({ iptables: { bridge: '--help' } })).toEqual(['iptables.bridge']);
    expect(await paths({ nodes: [{ name: 'node1', host: '10.77.0.11', iface: 'eth0.100' }] })).toEqual([]);
  });

  it('an etcd prefix may not contain . or .. segments (v2 requests would leave /v2/keys)', async () => {
    expect(await paths({ etcd: { prefix: '/coreos.com/../../v2/members' } })).toEqual(['etcd.prefix']);
    expect(await paths({ etcd: { prefix: '/a/./b' } })).toEqual(['etcd.prefix']);
    expect(await paths({ etcd: { prefix: '/my.net/..x' } })).toEqual([]);
  });

  it('remote paths in world-writable directories are refused', async () => {
    expect(await paths({ flannel: { subnetFile: '/tmp/flannel/subnet.env' } })).toEqual(['flannel.subnetFile']);
    expect(await paths({ flannel: { configDir: '/var/tmp/flannel' } })).toEqual(['flannel.configDir']);
    expect(await paths({ flannel: { installDir: '/dev/shm/bin', dockerOptsFile: '/run/lock/docker', logDir: '/tmp' } })).toEqual(['flannel.installDir', 'flannel.dockerOptsFile', 'flannel.logDir']);
    expect(await paths({ flannel: { subnetFile: '/run/flannel/subnet.env', logDir: '/tmpfiles/log' } })).toEqual([]);
  });

  it('flannel.tarballSha256 must be 64 hex digits and is kept lower-case', async () => {
    expect(await paths({ flannel: { tarballSha256: 'abc' } })).toEqual(['flannel.tarballSha256']);
    const inv = await load({ flannel: { tarballSha256: 'A'.repeat(64) } });
    expect(inv.flannel.tarballSha256).toBe('a'.repeat(64));
  });
});
