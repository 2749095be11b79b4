import { X509Certificate } from 'node:crypto';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, statSync, unlinkSync, writeFileSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { PkiError } from '../../src/errors.js';
import { checkPki, ensureCa, ensureFlanneldCert, issueCert, readCertInfo, type IssueOptions } from '../../src/pki/index.js';
import { load } from './foundation-fixture.js';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'flanctl-pki-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const files = (d: string, names: string[]) => Object.fromEntries(names.map((n) => [n, readFileSync(join(d, n), 'utf8')]));
const client = (over: Partial<IssueOptions> = {}): IssueOptions => ({
  caDir: dir, outDir: dir, name: 'flanneld', cn: 'flanneld', names: { C: 'CN', ST: 'Shanghai', L: 'Shanghai', O: 'k8s', OU: 'System' },
  key: { algo: 'rsa', size: 2048 }, expiry: '8760h', usage: 'client', ...over,
});

describe('ensureCa', () => {
  it('creates a self-signed CA with a 0600 key, then reuses it untouched', async () => {
    const first = await ensureCa(dir, { cn: 'flannel-ca', expiry: '87600h' });
    expect(first.created).toBe(true);
    const ca = new X509Certificate(readFileSync(first.certFile));
    expect(ca.ca).toBe(true);
    expect(ca.subject).toBe('CN=flannel-ca');
    expect(ca.verify(ca.publicKey)).toBe(true);
    expect(statSync(first.keyFile).mode & 0o777).toBe(0o600);
    const before = files(dir, ['ca.pem', 'ca-key.pem', 'ca.csr']);
    const again = await ensureCa(dir, { cn: 'other-name', expiry: '1h' });
    expect(again.created).toBe(false);
    expect(files(dir, ['ca.pem', 'ca-key.pem', 'ca.csr'])).toEqual(before);
  });

  it('reuses a ca.pem without its key (an etcd CA) and refuses a key without ca.pem', async () => {
    await ensureCa(dir, { cn: 'x', expiry: '87600h' });
    unlinkSync(join(dir, 'ca-key.pem'));
    expect((await ensureCa(dir, { cn: 'x', expiry: '87600h' })).created).toBe(false);
    const other = mkdtempSync(join(tmpdir(), 'flanctl-pki-'));
    try {
      await ensureCa(other, { cn: 'x', expiry: '87600h' });
      unlinkSync(join(other, 'ca.pem'));
      await expect(ensureCa(other, { cn: 'x', expiry: '87600h' })).rejects.toThrow(/ca-key.pem exists but .*ca.pem does not/);
    } finally {
      rmSync(other, { recursive: true, force: true });
    }
  });
});

describe('issueCert', () => {
  beforeEach(async () => {
    // An ECDSA CA: quick to make, and it exercises ECDSA signing of RSA and ECDSA certs.
    await ensureCa(dir, { cn: 'flannel-ca', expiry: '87600h', key: { algo: 'ecdsa', size: 256 } });
  });

  it('issues a client-auth-only cert with the configured subject, signed by the CA', async () => {
    const res = await issueCert(client());
    expect(res.created).toBe(true);
    const cert = new X509Certificate(readFileSync(res.certFile));
    const ca = new X509Certificate(readFileSync(join(dir, 'ca.pem')));
    expect(cert.verify(ca.publicKey)).toBe(true);
    expect(cert.checkIssued(ca)).toBe(true);
    expect(cert.subject).toBe('C=CN\nST=Shanghai\nL=Shanghai\nO=k8s\nOU=System\nCN=flanneld');
    expect(cert.keyUsage).toEqual(['1.3.6.1.5.5.7.3.2']);
    expect(cert.ca).toBe(false);
    const days = (Date.parse(cert.validTo) - Date.now()) / 86_400_000;
    expect(days).toBeGreaterThan(364);
    expect(days).toBeLessThan(366);
    expect(statSync(res.keyFile).mode & 0o777).toBe(0o600);
    expect(readFileSync(res.keyFile, 'utf8')).toMatch(/^-----BEGIN RSA PRIVATE KEY-----/);
    expect(readFileSync(join(dir, 'flanneld.csr'), 'utf8')).toMatch(/^-----BEGIN CERTIFICATE REQUEST-----/);
  });

  it('leaves every file byte-identical on a rerun, and reissues with force', async () => {
    await issueCert(client());
    const names = ['ca.pem', 'ca-key.pem', 'flanneld.pem', 'flanneld-key.pem', 'flanneld.csr'];
    const before = files(dir, names);
    expect((await issueCert(client())).created).toBe(false);
    expect(files(dir, names)).toEqual(before);
    const forced = await issueCert(client({ force: true }));
    expect(forced).toMatchObject({ created: true, reason: 'forced' });
    expect(readFileSync(join(dir, 'flanneld.pem'), 'utf8')).not.toBe(before['flanneld.pem']);
  });

  it.each([
    ['the subject', { cn: 'flanneld-2' }, /subject is/],
    ['the key algorithm', { key: { algo: 'ecdsa' as const, size: 256 } }, /key is rsa 2048, want ecdsa 256/],
    ['the expiry', { expiry: '720h' }, /lifetime is 8760h, want 720h/],
    ['the usage', { usage: 'peer' as const }, /extended key usage/],
    ['the SANs', { hosts: ['10.0.0.1'] }, /SANs are none, want 10.0.0.1/],
  ])('reissues when %s no longer matches', async (_what, over, reason) => {
    await issueCert(client());
    const res = await issueCert(client(over));
    expect(res.created).toBe(true);
    expect(res.reason).toMatch(reason);
  });

  it('reissues a cert signed by another CA', async () => {
    const other = mkdtempSync(join(tmpdir(), 'flanctl-pki-'));
    try {
      await ensureCa(other, { cn: 'other', expiry: '87600h' });
      await issueCert(client({ caDir: other, outDir: other }));
      for (const f of ['flanneld.pem', 'flanneld-key.pem']) copyFileSync(join(other, f), join(dir, f));
      const res = await issueCert(client());
      expect(res).toMatchObject({ created: true, reason: 'not signed by the CA' });
    } finally {
      rmSync(other, { recursive: true, force: true });
    }
  });

  it('issues ECDSA P-256 server certs with IP and DNS SANs (serverAuth + clientAuth for peer)', async () => {
    const res = await issueCert(client({ name: 'etcd', cn: 'etcd', names: undefined, key: { algo: 'ecdsa', size: 256 }, usage: 'peer', hosts: ['127.0.0.1', 'localhost'] }));
    const info = readCertInfo(res.certFile);
    expect(info).toMatchObject({ subject: 'CN=etcd', keyAlgo: 'ecdsa', keySize: 256, eku: ['serverAuth', 'clientAuth'], isCa: false });
    expect(info.sans.sort()).toEqual(['127.0.0.1', 'localhost']);
    expect(readFileSync(res.keyFile, 'utf8')).toMatch(/^-----BEGIN EC PRIVATE KEY-----/);
    const server = await issueCert(client({ name: 's', usage: 'server', hosts: ['10.77.0.1'] }));
    expect(readCertInfo(server.certFile).eku).toEqual(['serverAuth']);
  });

  it('needs the CA key to issue, and says so', async () => {
    unlinkSync(join(dir, 'ca-key.pem'));
    const err = await issueCert(client()).catch((e) => e);
    expect(err).toBeInstanceOf(PkiError);
    expect(err.message).toMatch(/ca-key.pem not found/);
    expect(err.hint).toMatch(/ca-key.pem/);
  });

  it('never lets a cert outlive its CA', async () => {
    const short = mkdtempSync(join(tmpdir(), 'flanctl-pki-'));
    try {
      await ensureCa(short, { cn: 'short', expiry: '48h' });
      const res = await issueCert(client({ caDir: short, outDir: short }));
      expect(Date.parse(readCertInfo(res.certFile).notAfter)).toBeLessThanOrEqual(Date.parse(readCertInfo(join(short, 'ca.pem')).notAfter));
    } finally {
      rmSync(short, { recursive: true, force: true });
    }
  });
});

describe('ensureFlanneldCert and checkPki from an inventory', () => {
  it('creates the CA and cert from pki.* and checks them', async () => {
    const inv = await load({ pki: { dir, flanneld: { cn: 'flanneld', names: { O: 'k8s' }, key: { algo: 'ecdsa' } } } });
    const res = await ensureFlanneldCert(inv);
    expect(res).toMatchObject({ created: true, caCreated: true, caFile: join(dir, 'ca.pem') });
    expect(readCertInfo(res.certFile)).toMatchObject({ subject: 'O=k8s, CN=flanneld', keyAlgo: 'ecdsa', eku: ['clientAuth'] });
    expect((await ensureFlanneldCert(inv)).created).toBe(false);
    const report = checkPki(inv);
    expect(report.ok).toBe(true);
    expect(report.certs.map((c) => c.role)).toEqual(['ca', 'flanneld']);
  });

  it('fails the check for an expiring cert, a loose key mode and a foreign cert', async () => {
    const inv = await load({ pki: { dir } });
    await ensureFlanneldCert(inv);
    const soon = checkPki(inv, { warnDays: 400 });
    expect(soon.ok).toBe(false);
    expect(soon.certs[1].problems.join()).toMatch(/expires in 36\d day\(s\).*within --warn-days 400/);
    chmodSync(join(dir, 'flanneld-key.pem'), 0o644);
    expect(checkPki(inv).certs[1].problems.join()).toMatch(/mode 0644; private keys must be 0600/);
    chmodSync(join(dir, 'flanneld-key.pem'), 0o600);
    const other = mkdtempSync(join(tmpdir(), 'flanctl-pki-'));
    try {
      await ensureCa(other, { cn: 'other', expiry: '87600h' });
      writeFileSync(join(dir, 'ca.pem'), readFileSync(join(other, 'ca.pem')));
      const foreign = checkPki(inv);
      expect(foreign.ok).toBe(false);
      expect(foreign.certs[1].problems).toContain('not signed by the CA');
    } finally {
      rmSync(other, { recursive: true, force: true });
    }
  });

  it('reports missing files', async () => {
    const report = checkPki(await load({ pki: { dir } }));
    expect(report.ok).toBe(false);
    expect(report.certs[0].problems[0]).toMatch(/not found/);
  });
});
