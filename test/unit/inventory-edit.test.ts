import { chmodSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { loadInventory } from '../../src/model/inventory.js';
import { backendForFile, editBackendText, writeInventoryBackend } from '../../src/switch/inventory-edit.js';
import { inventoryText } from './switch-fakes.js';

const withComments = `# cluster A (top comment)
network:
  cidr: 10.244.0.0/16 # pod network
  # data plane: changed by flanctl switch-backend
  backend:
    type: vxlan # keep this comment
    vni: 1
    port: 8472 # the kernel default
  serviceCidr: 10.96.0.0/12
etcd:
  endpoints: [ https://10.77.0.1:2379 ]
flannel:
  tarball: flannel.tar.gz
nodes:
- { name: node1, host: 10.77.0.11 } # first
- name: node2 # second
  host: 10.77.0.12
`;

describe('inventory edit (yaml Document API)', () => {
  it('switches to host-gw keeping comments and key order, dropping vxlan-only keys', () => {
    const out = editBackendText(withComments, { type: 'host-gw' });
    expect(out).toContain('# cluster A (top comment)');
    expect(out).toContain('cidr: 10.244.0.0/16 # pod network');
    expect(out).toContain('  # data plane: changed by flanctl switch-backend\n  backend:\n    type: host-gw # keep this comment\n  serviceCidr');
    expect(out).not.toMatch(/vni|port:/);
    expect(out).toContain('- { name: node1, host: 10.77.0.11 } # first');
    expect(out).toContain('endpoints: [ https://10.77.0.1:2379 ]');
    expect(out.split('\n').filter((l) => !/backend|type|vni|port/.test(l))).toEqual(withComments.split('\n').filter((l) => !/backend|type|vni|port/.test(l)));
  });

  it('keeps the other style too: indented sequences, tight flow collections', () => {
    const tight = withComments.replace('[ https://10.77.0.1:2379 ]', '[https://10.77.0.1:2379]').replace('- { name: node1, host: 10.77.0.11 }', '  - {name: node1, host: 10.77.0.11}')
      .replace('- name: node2 # second\n  host', '  - name: node2 # second\n    host');
    const out = editBackendText(tight, { type: 'host-gw' });
    const rest = (t: string) => t.split('\n').filter((l) => !/backend|type|vni|port/.test(l));
    expect(rest(out)).toEqual(rest(tight));
  });

  it('keeps options the user spelled out when they still hold, adds new ones after them', () => {
    const out = editBackendText(withComments, { type: 'vxlan', vni: 1, port: 8472, directRouting: true, gbp: false });
    expect(out).toContain('    type: vxlan # keep this comment\n    vni: 1\n    port: 8472 # the kernel default\n    directRouting: true\n');
  });

  it('adds a backend where the file had none, and spells only non-defaults', () => {
    const out = editBackendText(inventoryText(''), { type: 'vxlan', vni: 4, port: 8472, directRouting: false, gbp: false });
    expect(out).toMatch(/backend:\n {4}type: vxlan\n {4}vni: 4\n/);
    expect(backendForFile({ type: 'wireguard', listenPort: 51820, persistentKeepaliveInterval: 0 })).toEqual({ type: 'wireguard' });
  });

  it('patches a block backend in the text: every other byte stays (comments on key lines, 4-space indent, quotes)', () => {
    const text = '# head\nnetwork:   # pod network\n    cidr: 10.244.0.0/16\n    backend:  # keep me\n        type: "vxlan"   # quoted\n        vni: 1\n        port: 4789 # custom\n    serviceCidr: 10.96.0.0/12\nnodes: []';
    const dr = editBackendText(text, { type: 'vxlan', vni: 1, port: 4789, directRouting: true, gbp: false });
    expect(dr).toBe(text.replace('port: 4789 # custom\n', 'port: 4789 # custom\n        directRouting: true\n'));
    const hg = editBackendText(text, { type: 'host-gw' });
    expect(hg).toBe('# head\nnetwork:   # pod network\n    cidr: 10.244.0.0/16\n    backend:  # keep me\n        type: "host-gw"   # quoted\n    serviceCidr: 10.96.0.0/12\nnodes: []');
    const last = 'network:\n  cidr: 10.244.0.0/16\n  backend:\n    type: host-gw';
    expect(editBackendText(last, { type: 'vxlan', vni: 2, port: 8472, directRouting: false, gbp: false })).toBe(`${last.replace('host-gw', 'vxlan')}\n    vni: 2\n`);
  });

  it('a flow-style backend stays flow style', () => {
    const out = editBackendText(inventoryText('backend: {type: vxlan}\n'), { type: 'host-gw' });
    expect(out).toMatch(/backend: \{ ?type: host-gw ?\}/);
  });

  describe('writing the file', () => {
    let dir: string;
    beforeEach(() => {
      dir = mkdtempSync(join(tmpdir(), 'flanctl-invedit-'));
    });
    afterEach(() => rmSync(dir, { recursive: true, force: true }));

    it('writes atomically with the same mode; the result loads with the new backend', async () => {
      const file = join(dir, 'inventory.yaml');
      writeFileSync(file, withComments);
      chmodSync(file, 0o640);
      const r = await writeInventoryBackend(file, { type: 'host-gw' });
      expect(r.changed).toBe(true);
      expect(statSync(file).mode & 0o777).toBe(0o640);
      expect(readdirSync(dir)).toEqual(['inventory.yaml']);
      expect((await loadInventory(file)).network.backend).toEqual({ type: 'host-gw' });
      expect(readFileSync(file, 'utf8')).toContain('# keep this comment');
      const again = await writeInventoryBackend(file, { type: 'host-gw' });
      expect(again.changed).toBe(false);
    });
  });
});
