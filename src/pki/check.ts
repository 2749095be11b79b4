/**
 * `certs check`: inspect the CA and the client certificate flanctl and flanneld use, and say what is
 * wrong with them (not signed by the CA, key mismatch, wrong EKU, expired or expiring, loose key mode).
 */
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { etcdTlsFiles, type Inventory } from '../model/inventory.js';
import { readCertInfo, type CertInfo } from './pki.js';

export interface CertCheck {
  role: 'ca' | 'flanneld' | 'etcd-client';
  file: string;
  keyFile?: string;
  ok: boolean;
  problems: string[];
  info?: CertInfo;
  daysLeft?: number;
}

export interface PkiCheckReport {
  ok: boolean;
  warnDays: number;
  certs: CertCheck[];
}

const DAY = 86_400_000;

function checkOne(role: CertCheck['role'], file: string, keyFile: string | undefined, ca: X509Certificate | undefined, warnDays: number, now: number): CertCheck {
  const problems: string[] = [];
  if (!existsSync(file)) return { role, file, keyFile, ok: false, problems: ['not found (run `flanctl certs generate`)'] };
  let info: CertInfo;
  let cert: X509Certificate;
  try {
    info = readCertInfo(file);
    cert = new X509Certificate(readFileSync(file));
  } catch (err) {
    return { role, file, keyFile, ok: false, problems: [(err as Error).message] };
  }
  const notAfter = Date.parse(info.notAfter);
  const daysLeft = Math.floor((notAfter - now) / DAY);
  if (Date.parse(info.notBefore) > now) problems.push(`not valid before ${info.notBefore}`);
  if (notAfter <= now) problems.push(`expired on ${info.notAfter}`);
  else if (notAfter - now < warnDays * DAY) problems.push(`expires in ${daysLeft} day(s) (${info.notAfter}), within --warn-days ${warnDays}; reissue with \`flanctl certs generate --force\``);
  if (role === 'ca') {
    if (!info.isCa) problems.push('not a CA certificate (basicConstraints CA:FALSE)');
  } else {
    if (!ca) problems.push('cannot check the signature: no readable CA');
    else if (!cert.checkIssued(ca) || !cert.verify(ca.publicKey)) problems.push('not signed by the CA');
    if (!info.eku.includes('clientAuth')) problems.push(`extended key usage ${info.eku.join(', ') || 'none'} lacks clientAuth`);
    if (role === 'flanneld' && info.eku.some((u) => u !== 'clientAuth')) problems.push(`extended key usage ${info.eku.join(', ')}: flanneld's cert should be client auth only`);
  }
  if (keyFile) {
    if (!existsSync(keyFile)) problems.push(`key ${keyFile} not found`);
    else {
      const mode = statSync(keyFile).mode & 0o777;
      if (mode & 0o077) problems.push(`key ${keyFile} has mode ${mode.toString(8).padStart(4, '0')}; private keys must be 0600`);
      try {
        if (!cert.checkPrivateKey(createPrivateKey(readFileSync(keyFile)))) problems.push(`key ${keyFile} does not match the certificate`);
      } catch (err) {
        problems.push(`key ${keyFile} unreadable: ${(err as Error).message.split('\n')[0]}`);
      }
    }
  }
  return { role, file, keyFile, ok: problems.length === 0, problems, info, daysLeft };
}

export function checkPki(inv: Inventory, opts: { warnDays?: number; now?: Date } = {}): PkiCheckReport {
  const warnDays = opts.warnDays ?? 30;
  const now = (opts.now ?? new Date()).getTime();
  const caFile = join(inv.pki.dir, 'ca.pem');
  let ca: X509Certificate | undefined;
  try {
    ca = new X509Certificate(readFileSync(caFile));
  } catch {
    ca = undefined;
  }
  const caKey = join(inv.pki.dir, 'ca-key.pem');
  const certs: CertCheck[] = [
    checkOne('ca', caFile, existsSync(caKey) ? caKey : undefined, ca, warnDays, now),
    checkOne('flanneld', join(inv.pki.dir, 'flanneld.pem'), join(inv.pki.dir, 'flanneld-key.pem'), ca, warnDays, now),
  ];
  const tls = etcdTlsFiles(inv);
  if (tls.cert !== certs[1].file) {
    let etcdCa = ca;
    try {
      etcdCa = new X509Certificate(readFileSync(tls.ca));
    } catch {
      /* reported through the signature check */
    }
    certs.push(checkOne('etcd-client', tls.cert, tls.key, etcdCa, warnDays, now));
  }
  return { ok: certs.every((c) => c.ok), warnDays, certs };
}
