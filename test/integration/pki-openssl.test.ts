/**
 * flanctl's PKI judged by openssl itself: chain verification, the EKU as openssl prints it, key file
 * modes, and a rerun that leaves every file byte-identical.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureCa, ensureFlanneldCert, issueCert } from '../../src/pki/index.js';
import { load } from '../unit/foundation-fixture.js';

function openssl(argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile('openssl', argv, { timeout: 30_000 }, (err, stdout, stderr) => resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stdout, stderr }));
  });
}

const snapshot = (dir: string) => Object.fromEntries(readdirSync(dir).sort().map((f) => [f, readFileSync(join(dir, f)).toString('base64')]));

/** The lines under "X509v3 Extended Key Usage:" in `openssl x509 -text`. */
const ekuOf = (text: string) => /X509v3 Extended Key Usage:.*\n\s+(.+)\n/.exec(text)?.[1].trim();

describe('PKI checked by openssl', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'flanctl-pki-openssl-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  for (const algo of ['rsa', 'ecdsa'] as const) {
    describe(`flanneld cert with ${algo} key`, () => {
      let pki: string;
      beforeAll(async () => {
        pki = join(dir, algo);
        const inv = await load({
          pki: { dir: pki, flanneld: { cn: 'flanneld', names: { C: 'CN', ST: 'Shanghai', L: 'Shanghai', O: 'k8s', OU: 'System' }, key: { algo } } },
        });
        await ensureFlanneldCert(inv);
      });

      it('openssl verify -CAfile ca.pem flanneld.pem passes', async () => {
        const r = await openssl(['verify', '-CAfile', join(pki, 'ca.pem'), join(pki, 'flanneld.pem')]);
        expect(r.stderr).toBe('');
        expect(r.code).toBe(0);
        expect(r.stdout.trim()).toBe(`${join(pki, 'flanneld.pem')}: OK`);
      });

      it('the EKU is TLS Web Client Authentication only, not a CA, with the configured subject', async () => {
        const r = await openssl(['x509', '-in', join(pki, 'flanneld.pem'), '-noout', '-text']);
        expect(r.code).toBe(0);
        expect(ekuOf(r.stdout)).toBe('TLS Web Client Authentication');
        expect(r.stdout).not.toMatch(/TLS Web Server Authentication/);
        expect(r.stdout).toMatch(/CA:FALSE/);
        expect(r.stdout).toMatch(/Subject: C\s?=\s?CN, ST\s?=\s?Shanghai, L\s?=\s?Shanghai, O\s?=\s?k8s, OU\s?=\s?System, CN\s?=\s?flanneld/);
        expect(r.stdout).toMatch(algo === 'rsa' ? /Public-Key: \(2048 bit\)/ : /NIST CURVE: P-256/);
      });

      it('openssl accepts the key (matching the cert) and the CSR', async () => {
        const keyPub = await openssl(['pkey', '-in', join(pki, 'flanneld-key.pem'), '-pubout']);
        const certPub = await openssl(['x509', '-in', join(pki, 'flanneld.pem'), '-noout', '-pubkey']);
        expect(keyPub.code).toBe(0);
        expect(keyPub.stdout).toBe(certPub.stdout);
        const csr = await openssl(['req', '-in', join(pki, 'flanneld.csr'), '-noout', '-verify']);
        expect(csr.code).toBe(0);
        expect(csr.stdout + csr.stderr).toMatch(/verify OK/i);
      });

      it('private keys are 0600', () => {
        expect(statSync(join(pki, 'ca-key.pem')).mode & 0o777).toBe(0o600);
        expect(statSync(join(pki, 'flanneld-key.pem')).mode & 0o777).toBe(0o600);
      });

      it('a rerun leaves every file byte-identical', async () => {
        const before = snapshot(pki);
        const inv = await load({
          pki: { dir: pki, flanneld: { cn: 'flanneld', names: { C: 'CN', ST: 'Shanghai', L: 'Shanghai', O: 'k8s', OU: 'System' }, key: { algo } } },
        });
        const again = await ensureFlanneldCert(inv);
        expect(again.created).toBe(false);
        expect(snapshot(pki)).toEqual(before);
      });
    });
  }

  it('the CA openssl sees: CA:TRUE, keyCertSign, self-signed', async () => {
    const ca = await ensureCa(join(dir, 'ca-only'), { cn: 'flannel-ca', expiry: '87600h' });
    const text = await openssl(['x509', '-in', ca.certFile, '-noout', '-text']);
    expect(text.stdout).toMatch(/CA:TRUE/);
    expect(text.stdout).toMatch(/Certificate Sign, CRL Sign/);
    expect((await openssl(['verify', '-CAfile', ca.certFile, ca.certFile])).code).toBe(0);
  });

  it('a server cert for etcd: serverAuth with IP and DNS SANs, verified for its IP by openssl', async () => {
    const pki = join(dir, 'server');
    await ensureCa(pki, { cn: 'flannel-ca', expiry: '87600h' });
    const srv = await issueCert({ caDir: pki, outDir: pki, name: 'etcd', cn: 'etcd', key: { algo: 'rsa', size: 2048 }, expiry: '8760h', usage: 'server', hosts: ['10.77.0.1', '127.0.0.1', 'etcd.lab'] });
    const text = (await openssl(['x509', '-in', srv.certFile, '-noout', '-text'])).stdout;
    expect(ekuOf(text)).toBe('TLS Web Server Authentication');
    expect(text).toMatch(/IP Address:10\.77\.0\.1/);
    expect(text).toMatch(/DNS:etcd\.lab/);
    const ok = await openssl(['verify', '-CAfile', join(pki, 'ca.pem'), '-purpose', 'sslserver', '-verify_ip', '10.77.0.1', srv.certFile]);
    expect(ok.code).toBe(0);
    const wrongIp = await openssl(['verify', '-CAfile', join(pki, 'ca.pem'), '-verify_ip', '10.77.0.2', srv.certFile]);
    expect(wrongIp.code).not.toBe(0);
  });

  it('openssl rejects the flanneld cert against another CA', async () => {
    const other = await ensureCa(join(dir, 'other'), { cn: 'other-ca', expiry: '87600h' });
    const r = await openssl(['verify', '-CAfile', other.certFile, join(dir, 'rsa', 'flanneld.pem')]);
    expect(r.code).not.toBe(0);
  });
});
