/**
 * Issue 12 (low): what flanctl prints never carries a secret or a terminal escape it read remotely, and
 * what it uploads world-readable never carries a private key; --trust-new-hosts says what it recorded.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { memoryKv } from '../../src/kv/memory.js';
import { redactConfigText } from '../../src/model/flannel-config.js';
import { etcdConfigStep } from '../../src/steps/etcd-config.js';
import { redactConfig } from '../../src/switch/plan.js';
import { joinLeases, renderStatus } from '../../src/verify/status.js';
import { hostVerifier } from '../../src/connector/known-hosts.js';
import { readTlsMaterial } from '../../src/bootstrap/bootstrap.js';
import { PkiError } from '../../src/errors.js';
import { testInventory } from './bootstrap-fakes.js';

const tmp = mkdtempSync(join(tmpdir(), 'flanctl-sec-out-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('PSK redaction ignores key spelling', () => {
  it('the plan diff of etcd:config hides a psk stored under any spelling', async () => {
    const inv = await testInventory();
    for (const spelling of ['PSK', 'psk', 'Psk', 'pSK']) {
      const kv = memoryKv({ '/coreos.com/network/config': `{"Network":"10.244.0.0/16","SubnetLen":26,"Backend":{"Type":"vxlan","${spelling}":"TOPSECRET"}}` });
      const c = await etcdConfigStep(inv, { configUpdated: false }).check({ inventory: inv, kv, touched: new Set() });
      expect(c?.diff?.before, spelling).toContain('<redacted>');
      expect(JSON.stringify(c), spelling).not.toContain('TOPSECRET');
    }
  });

  it('any depth, and text that is not JSON', () => {
    expect(redactConfigText('{"backend":{"Psk":"s1"},"Other":{"inner":{"PsK":"s2"}}}')).toBe('{"backend":{"Psk":"<redacted>"},"Other":{"inner":{"PsK":"<redacted>"}}}');
    expect(redactConfigText('{"Backend":{"pSk":"s3"} trailing')).toBe('{"Backend":{"pSk":"<redacted>"} trailing');
    expect(redactConfig('{"BACKEND":{"PSK":"s4"}}')).not.toContain('s4');
  });
});

describe('status strips control characters read from etcd', () => {
  it('a lease with terminal escapes prints as inert text', async () => {
    const inv = await testInventory();
    const evil = '10.77.0.99\u001b[2J\u001b]0;pwned\u0007\u009b31m';
    const report = joinLeases(inv, [
      { key: 'k', subnet: '10.244.5.0/24', publicIp: evil, backendType: 'vxlan\u001b[8m', backendData: { VtepMAC: 'aa:bb\r\u001b[1A' }, ttl: 80000, value: '{}' },
    ], 'memory');
    const text = renderStatus(report);
    expect(text).not.toMatch(/[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/);
    expect(text).toContain('10.77.0.99?[2J?]0;pwned??31m');
    expect(text).toContain('vxlan?[8m');
  });
});

describe('--trust-new-hosts prints what it records', () => {
  it('the key type and SHA256 fingerprint of each recorded key', async () => {
    const K = 'AAAAC3NzaC1lZDI1NTE5AAAAIAjc5ap/EV9ReN+OBm2ALmSu0RgPIqHok9/EYscAA6/D';
    const lines: string[] = [];
    const v = await hostVerifier({ label: 'node1', host: '10.1.2.3', port: 22, knownHostsFile: join(tmp, 'known_hosts'), trustNewHosts: true, log: (l) => lines.push(l) });
    const ok = await new Promise<boolean>((r) => v.verify(Buffer.from(K, 'base64'), r));
    expect(ok).toBe(true);
    expect(lines).toEqual([`--trust-new-hosts: recorded node1 (10.1.2.3:22): ssh-ed25519 SHA256:XVbR1W+dIHb1elvzTvSH1IuLSQRIKkoNKeFq9RSHo2k in ${join(tmp, 'known_hosts')}`]);
  });
});

describe('ca.pem goes to nodes world-readable, so it must hold no private key', () => {
  it('bootstrap refuses a CA file with a PRIVATE KEY block before anything is uploaded', async () => {
    const pki = join(tmp, 'pki');
    mkdirSync(pki, { recursive: true });
    const cert = '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n';
    writeFileSync(join(pki, 'ca.pem'), `${cert}-----BEGIN EC PRIVATE KEY-----\nMHcC\n-----END EC PRIVATE KEY-----\n`);
    writeFileSync(join(pki, 'flanneld.pem'), cert);
    writeFileSync(join(pki, 'flanneld-key.pem'), 'key', { mode: 0o600 });
    const inv = await testInventory(undefined, join(tmp, 'inventory.yaml'));
    expect(() => readTlsMaterial(inv)).toThrow(PkiError);
    expect(() => readTlsMaterial(inv)).toThrow(/ca\.pem \(pki\.dir\) contains a PRIVATE KEY block/);
    writeFileSync(join(pki, 'ca.pem'), cert);
    expect(readTlsMaterial(inv)?.ca).toBe(cert);
  });
});
