import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { configMatches, lineDiff, networkConfig, networkConfigText, prettyJson } from '../../src/model/flannel-config.js';
import { memoryKv } from '../../src/kv/memory.js';
import { EtcdError } from '../../src/errors.js';
import { parseInventory } from '../../src/model/inventory.js';
import { inventoryYaml, load } from './foundation-fixture.js';
import { applyNetworkConfig } from '../../src/kv/flannel-keys.js';

describe('network config JSON in flannel key spelling', () => {
  it.each([
    [{ type: 'vxlan' }, '{"Network":"10.244.0.0/16","SubnetLen":24,"Backend":{"Type":"vxlan","VNI":1,"Port":8472,"DirectRouting":false}}'],
    [{ type: 'vxlan', vni: 4, port: 4789, directRouting: true, gbp: true, mtu: 9000 }, '{"Network":"10.244.0.0/16","SubnetLen":24,"Backend":{"Type":"vxlan","VNI":4,"Port":4789,"DirectRouting":true,"GBP":true,"MTU":9000}}'],
    [{ type: 'host-gw' }, '{"Network":"10.244.0.0/16","SubnetLen":24,"Backend":{"Type":"host-gw"}}'],
    [{ type: 'ipip', directRouting: true }, '{"Network":"10.244.0.0/16","SubnetLen":24,"Backend":{"Type":"ipip","DirectRouting":true}}'],
    [{ type: 'udp' }, '{"Network":"10.244.0.0/16","SubnetLen":24,"Backend":{"Type":"udp","Port":8285}}'],
    [{ type: 'wireguard' }, '{"Network":"10.244.0.0/16","SubnetLen":24,"Backend":{"Type":"wireguard","ListenPort":51820,"PersistentKeepaliveInterval":0}}'],
  ])('%j', async (backend, text) => {
    const inv = await load({ network: { backend } });
    expect(networkConfigText(inv)).toBe(text);
    expect(networkConfig(inv).Backend.Type).toBe(backend.type);
  });

  it('writes SubnetMin/SubnetMax when set, the default SubnetLen always, and normalises Network', async () => {
    const inv = await load({ network: { cidr: '10.5.0.7/24', subnetMin: '10.5.0.64', subnetMax: '10.5.0.128' } });
    expect(networkConfig(inv)).toEqual({
      Network: '10.5.0.0/24', SubnetLen: 26, SubnetMin: '10.5.0.64', SubnetMax: '10.5.0.128',
      Backend: { Type: 'vxlan', VNI: 1, Port: 8472, DirectRouting: false },
    });
  });

  it('reads the wireguard PSK from its file and redacts it on request', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'flanctl-psk-'));
    try {
      writeFileSync(join(dir, 'wg.psk'), 'c2VjcmV0LXBzay12YWx1ZQ==\n');
      const text = inventoryYaml({ network: { backend: { type: 'wireguard', psk: 'wg.psk' } } });
      const { inventory } = await parseInventory(text, join(dir, 'inventory.yaml'));
      expect(networkConfig(inventory).Backend.PSK).toBe('c2VjcmV0LXBzay12YWx1ZQ==');
      expect(networkConfigText(inventory, { redact: true })).not.toContain('c2VjcmV0');
      expect(networkConfig(inventory, { redact: true }).Backend.PSK).toBe('<redacted>');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('applyNetworkConfig (memory Kv)', () => {
  it('writes the key when missing, then writes nothing on the second run', async () => {
    const inv = await load();
    const kv = memoryKv();
    const first = await applyNetworkConfig(kv, inv);
    expect(first).toMatchObject({ key: '/coreos.com/network/config', changed: true, before: undefined });
    expect(kv.data.get('/coreos.com/network/config')).toBe(networkConfigText(inv));
    const second = await applyNetworkConfig(kv, inv);
    expect(second.changed).toBe(false);
    expect(kv.writes).toHaveLength(1);
  });

  it('treats a stored value with other key order or spacing as equal', async () => {
    const inv = await load();
    const kv = memoryKv({ '/coreos.com/network/config': '{ "SubnetLen": 24, "Backend": {"DirectRouting": false, "Port": 8472, "VNI": 1, "Type": "vxlan"}, "Network": "10.244.0.0/16" }' });
    expect((await applyNetworkConfig(kv, inv)).changed).toBe(false);
    expect(kv.writes).toEqual([]);
  });

  it('rewrites a different value and returns the old one', async () => {
    const inv = await load({ network: { backend: { type: 'host-gw' } }, etcd: { prefix: '/lab/network' } });
    const old = '{"Network":"10.244.0.0/16","Backend":{"Type":"vxlan"}}';
    const kv = memoryKv({ '/lab/network/config': old });
    const res = await applyNetworkConfig(kv, inv);
    expect(res).toMatchObject({ key: '/lab/network/config', changed: true, before: old });
    expect(JSON.parse(kv.data.get('/lab/network/config')!).Backend).toEqual({ Type: 'host-gw' });
  });

  it('passes Kv errors through', async () => {
    const kv = memoryKv();
    kv.failWith(new EtcdError('etcd v3 at https://x:2379: unreachable'));
    await expect(applyNetworkConfig(kv, await load())).rejects.toBeInstanceOf(EtcdError);
  });

  it('compares JSON, not text', () => {
    expect(configMatches('{"a":1,"b":{"c":2}}', '{"b":{"c":2},"a":1}')).toBe(true);
    expect(configMatches('{"a":1}', '{"a":2}')).toBe(false);
    expect(configMatches('not json', '{}')).toBe(false);
    expect(configMatches(undefined, '{}')).toBe(false);
  });
});

describe('lineDiff', () => {
  it('marks removed and added lines', () => {
    const before = prettyJson('{"Network":"10.244.0.0/16","Backend":{"Type":"vxlan"}}');
    const after = prettyJson('{"Network":"10.244.0.0/16","Backend":{"Type":"host-gw"}}');
    const diff = lineDiff(before, after);
    expect(diff).toContain('-     "Type": "vxlan"');
    expect(diff).toContain('+     "Type": "host-gw"');
    expect(diff).toContain('    "Network": "10.244.0.0/16",');
    expect(diff.filter((l) => l.startsWith('- ') || l.startsWith('+ '))).toHaveLength(2);
  });

  it('shows everything as added when there was nothing', () => {
    expect(lineDiff('', 'a\nb')).toEqual(['+ a', '+ b']);
  });
});
