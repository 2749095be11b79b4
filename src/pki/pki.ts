/**
 * The CA and the certificates flanctl issues, in cfssl's file layout: ca.pem + ca-key.pem,
 * <name>.pem + <name>-key.pem (0600) + <name>.csr. RSA keys are PKCS#1 ("RSA PRIVATE KEY"), ECDSA keys
 * SEC1 ("EC PRIVATE KEY"), like cfssljson writes them. Nothing is rewritten while the existing files
 * are valid and match what is asked for, so a rerun leaves them byte-identical.
 */
import { X509Certificate, createPrivateKey, createPublicKey, generateKeyPair, randomBytes, type KeyObject } from 'node:crypto';
import { promisify } from 'node:util';
import { existsSync, readFileSync } from 'node:fs';
import { chmod, mkdir, rename, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { PkiError } from '../errors.js';
import type { Inventory } from '../model/inventory.js';
import { subjectText, toPem, type SubjectNames } from './subject.js';

export type { SubjectNames } from './subject.js';
/** The DER builders (node-forge, ~60 ms to load): only when a certificate or CSR is made. */
const derBuilders = () => import('./der.js');
export interface KeySpec {
  algo: 'rsa' | 'ecdsa';
  size: number;
}
export type CertUsage = 'client' | 'server' | 'peer';
export interface EnsureResult {
  created: boolean;
  certFile: string;
  keyFile: string;
  /** Why the certificate was (re)issued, when it was. */
  reason?: string;
}

const HOUR = 3_600_000;
/** cfssl backdates notBefore by 5 minutes to absorb clock skew; so do we. */
const BACKDATE = 5 * 60_000;
export const EKU_OIDS: Record<string, string> = { '1.3.6.1.5.5.7.3.1': 'serverAuth', '1.3.6.1.5.5.7.3.2': 'clientAuth' };
const USAGE_EKU: Record<CertUsage, ('serverAuth' | 'clientAuth')[]> = {
  client: ['clientAuth'],
  server: ['serverAuth'],
  peer: ['serverAuth', 'clientAuth'],
};
const CURVES: Record<number, string> = { 256: 'prime256v1', 384: 'secp384r1', 521: 'secp521r1' };

/** "8760h" → milliseconds. */
export function expiryMs(expiry: string): number {
  const m = /^(\d+)h$/.exec(expiry);
  if (!m || Number(m[1]) < 1) throw new PkiError(`expiry ${JSON.stringify(expiry)}: expected hours such as 8760h`);
  return Number(m[1]) * HOUR;
}

export const caFiles = (dir: string) => ({ certFile: join(dir, 'ca.pem'), keyFile: join(dir, 'ca-key.pem'), csrFile: join(dir, 'ca.csr') });
export const certFiles = (dir: string, name: string) => ({
  certFile: join(dir, `${name}.pem`),
  keyFile: join(dir, `${name}-key.pem`),
  csrFile: join(dir, `${name}.csr`),
});

export async function writeAtomic(file: string, data: string, mode: number): Promise<void> {
  await mkdir(dirname(file), { recursive: true, mode: 0o700 });
  const tmp = `${file}.tmp-${randomBytes(8).toString('hex')}`; // random and exclusive: never a planted symlink
  await writeFile(tmp, data, { mode, flag: 'wx' });
  await chmod(tmp, mode);
  await rename(tmp, file);
}

const generateKeyPairAsync = promisify(generateKeyPair);

/** A new key pair (off the event loop, so spinners keep turning). */
async function generateKey(key: KeySpec): Promise<{ privateKey: KeyObject; publicKey: KeyObject; pem: string }> {
  if (key.algo === 'rsa') {
    if (key.size < 2048 || key.size > 8192) throw new PkiError(`RSA key size ${key.size}: expected 2048..8192`);
    const { privateKey, publicKey } = await generateKeyPairAsync('rsa', { modulusLength: key.size });
    return { privateKey, publicKey, pem: privateKey.export({ type: 'pkcs1', format: 'pem' }) as string };
  }
  const namedCurve = CURVES[key.size];
  if (!namedCurve) throw new PkiError(`ECDSA key size ${key.size}: expected 256, 384 or 521`);
  const { privateKey, publicKey } = await generateKeyPairAsync('ec', { namedCurve });
  return { privateKey, publicKey, pem: privateKey.export({ type: 'sec1', format: 'pem' }) as string };
}

function loadCert(file: string): X509Certificate {
  try {
    return new X509Certificate(readFileSync(file));
  } catch (err) {
    throw new PkiError(`${file}: not a readable PEM certificate (${(err as Error).message})`, { cause: err });
  }
}

function loadKey(file: string): KeyObject {
  try {
    return createPrivateKey(readFileSync(file));
  } catch (err) {
    throw new PkiError(`${file}: not a readable unencrypted PEM private key (${(err as Error).message})`, { cause: err });
  }
}

/** A new self-signed CA in memory (PEM texts); the caller decides where they go (the key 0600). */
export async function createCaPem(opts: { cn: string; expiry: string; names?: SubjectNames; key?: KeySpec }): Promise<{ certPem: string; keyPem: string; csrPem: string }> {
  const key = await generateKey(opts.key ?? { algo: 'rsa', size: 2048 });
  const { buildCertificate, buildCsr, keyIdentifier, nameAsn1 } = await derBuilders();
  const subject = nameAsn1({ ...opts.names, CN: opts.cn });
  const now = Date.now();
  const der = buildCertificate({
    subject,
    issuer: subject,
    publicKey: key.publicKey,
    signingKey: key.privateKey,
    notBefore: new Date(now - BACKDATE),
    notAfter: new Date(now + expiryMs(opts.expiry)),
    extensions: { ca: true, keyUsage: { keyCertSign: true, cRLSign: true }, extKeyUsage: [], hosts: [], subjectKeyId: keyIdentifier(key.publicKey) },
  });
  return { certPem: toPem('CERTIFICATE', der), keyPem: key.pem, csrPem: toPem('CERTIFICATE REQUEST', buildCsr(subject, key.publicKey, key.privateKey, [])) };
}

/** Reuse <dir>/ca.pem (+ ca-key.pem) when present (e.g. the etcd cluster's CA), else create a CA. */
export async function ensureCa(dir: string, opts: { cn: string; expiry: string; names?: SubjectNames; key?: KeySpec }): Promise<EnsureResult> {
  const { certFile, keyFile, csrFile } = caFiles(dir);
  if (existsSync(certFile)) {
    const cert = loadCert(certFile);
    if (!cert.ca) throw new PkiError(`${certFile} is not a CA certificate (basicConstraints CA:FALSE)`);
    if (existsSync(keyFile) && !cert.checkPrivateKey(loadKey(keyFile))) {
      throw new PkiError(`${keyFile} does not belong to ${certFile}`, { hint: 'Put the matching CA key next to ca.pem, or remove both to create a new CA.' });
    }
    return { created: false, certFile, keyFile };
  }
  if (existsSync(keyFile)) {
    throw new PkiError(`${keyFile} exists but ${certFile} does not`, { hint: 'Restore ca.pem, or remove ca-key.pem to create a new CA.' });
  }
  const made = await createCaPem(opts);
  await writeAtomic(keyFile, made.keyPem, 0o600);
  await writeAtomic(csrFile, made.csrPem, 0o644);
  await writeAtomic(certFile, made.certPem, 0o644);
  return { created: true, certFile, keyFile, reason: 'no CA in ' + dir };
}

export interface IssueOptions {
  caDir: string;
  outDir: string;
  name: string;
  cn: string;
  names?: SubjectNames;
  key: KeySpec;
  expiry: string;
  usage: CertUsage;
  /** SANs: IP addresses and DNS names. */
  hosts?: string[];
  force?: boolean;
  /** Sign with these CA files instead of <caDir>/ca.pem + ca-key.pem (a CA rotation's new CA). */
  ca?: { certFile: string; keyFile: string };
}

/** SANs as node prints them ("DNS:a, IP Address:1.2.3.4") → ["a", "1.2.3.4"]. */
export function parseSans(text: string | undefined): string[] {
  if (!text) return [];
  return text.split(', ').map((s) => s.replace(/^(DNS|IP Address|email|URI):/, ''));
}

const sameSet = (a: string[], b: string[]) => a.length === b.length && [...a].sort().join('\n') === [...b].sort().join('\n');

/** Why the existing files do not satisfy opts; undefined when they do. */
export function certMismatch(opts: IssueOptions, ca: X509Certificate): string | undefined {
  const { certFile, keyFile } = certFiles(opts.outDir, opts.name);
  if (!existsSync(certFile) || !existsSync(keyFile)) return 'missing';
  let cert: X509Certificate;
  let key: KeyObject;
  try {
    cert = loadCert(certFile);
    key = loadKey(keyFile);
  } catch (err) {
    return (err as Error).message;
  }
  if (!cert.checkPrivateKey(key)) return `${keyFile} does not match ${certFile}`;
  if (!cert.checkIssued(ca) || !cert.verify(ca.publicKey)) return 'not signed by the CA';
  if (Date.parse(cert.validTo) <= Date.now()) return `expired on ${cert.validTo}`;
  const wantSubject = subjectText({ ...opts.names, CN: opts.cn });
  if (cert.subject !== wantSubject) return `subject is ${cert.subject.replace(/\n/g, ', ')}, want ${wantSubject.replace(/\n/g, ', ')}`;
  const details = key.asymmetricKeyDetails ?? {};
  const algo = key.asymmetricKeyType === 'ec' ? 'ecdsa' : key.asymmetricKeyType;
  const size = algo === 'ecdsa' ? Number(Object.entries(CURVES).find(([, c]) => c === details.namedCurve)?.[0]) : details.modulusLength;
  if (algo !== opts.key.algo || size !== opts.key.size) return `key is ${algo} ${size}, want ${opts.key.algo} ${opts.key.size}`;
  const eku = (cert.keyUsage ?? []).map((o) => EKU_OIDS[o] ?? o);
  if (!sameSet(eku, USAGE_EKU[opts.usage])) return `extended key usage is ${eku.join(',') || 'none'}, want ${USAGE_EKU[opts.usage].join(',')}`;
  if (!sameSet(parseSans(cert.subjectAltName), opts.hosts ?? [])) return `SANs are ${parseSans(cert.subjectAltName).join(',') || 'none'}, want ${(opts.hosts ?? []).join(',') || 'none'}`;
  const hours = Math.round((Date.parse(cert.validTo) - Date.parse(cert.validFrom) - BACKDATE) / HOUR);
  if (hours !== expiryMs(opts.expiry) / HOUR) return `lifetime is ${hours}h, want ${opts.expiry}`;
  return undefined;
}

/** Issue <outDir>/<name>.pem, <name>-key.pem (0600), <name>.csr, signed by <caDir>/ca.pem + ca-key.pem. */
export async function issueCert(opts: IssueOptions): Promise<EnsureResult> {
  const ca = opts.ca ?? caFiles(opts.caDir);
  const out = certFiles(opts.outDir, opts.name);
  if (!existsSync(ca.certFile)) throw new PkiError(`${ca.certFile} not found`, { hint: 'Run `flanctl certs generate` to create a CA, or copy the etcd cluster\'s CA there.' });
  const caCert = loadCert(ca.certFile);
  const reason = opts.force ? 'forced' : certMismatch(opts, caCert);
  if (!reason) {
    if (!existsSync(out.csrFile)) {
      const priv = loadKey(out.keyFile);
      const { buildCsr, nameAsn1 } = await derBuilders();
      const subject = nameAsn1({ ...opts.names, CN: opts.cn });
      await writeAtomic(out.csrFile, toPem('CERTIFICATE REQUEST', buildCsr(subject, createPublicKey(priv), priv, opts.hosts ?? [])), 0o644);
    }
    return { created: false, certFile: out.certFile, keyFile: out.keyFile };
  }
  if (!existsSync(ca.keyFile)) {
    throw new PkiError(`cannot issue ${out.certFile} (${reason}): ${ca.keyFile} not found`, {
      hint: 'Put the CA key (ca-key.pem) next to ca.pem, or provide a flanneld.pem signed by that CA.',
    });
  }
  const caKey = loadKey(ca.keyFile);
  if (!caCert.checkPrivateKey(caKey)) throw new PkiError(`${ca.keyFile} does not belong to ${ca.certFile}`);
  const key = await generateKey(opts.key);
  const { buildCertificate, buildCsr, keyIdentifier, nameAsn1, subjectOfCertificate } = await derBuilders();
  const subject = nameAsn1({ ...opts.names, CN: opts.cn });
  const hosts = opts.hosts ?? [];
  const now = Date.now();
  const caNotAfter = Date.parse(caCert.validTo);
  const der = buildCertificate({
    subject,
    issuer: subjectOfCertificate(caCert.raw),
    publicKey: key.publicKey,
    signingKey: caKey,
    notBefore: new Date(now - BACKDATE),
    notAfter: new Date(Math.min(now + expiryMs(opts.expiry), caNotAfter)),
    extensions: {
      ca: false,
      keyUsage: { digitalSignature: true, keyEncipherment: opts.key.algo === 'rsa' },
      extKeyUsage: USAGE_EKU[opts.usage],
      hosts,
      subjectKeyId: keyIdentifier(key.publicKey),
      authorityKeyId: keyIdentifier(caCert.publicKey),
    },
  });
  await writeAtomic(out.keyFile, key.pem, 0o600);
  await writeAtomic(out.csrFile, toPem('CERTIFICATE REQUEST', buildCsr(subject, key.publicKey, key.privateKey, hosts)), 0o644);
  await writeAtomic(out.certFile, toPem('CERTIFICATE', der), 0o644);
  return { created: true, certFile: out.certFile, keyFile: out.keyFile, reason };
}

export interface FlanneldCertResult extends EnsureResult {
  caFile: string;
  caKeyFile: string;
  caCreated: boolean;
}

/** The inventory's CA (reused or created) and its flanneld client certificate (client auth only). */
export async function ensureFlanneldCert(inv: Inventory, opts: { force?: boolean } = {}): Promise<FlanneldCertResult> {
  const ca = await ensureCa(inv.pki.dir, inv.pki.ca);
  const f = inv.pki.flanneld;
  const cert = await issueCert({
    caDir: inv.pki.dir, outDir: inv.pki.dir, name: 'flanneld', cn: f.cn, names: f.names, key: f.key, expiry: f.expiry,
    usage: 'client', force: opts.force,
  });
  return { ...cert, caFile: ca.certFile, caKeyFile: ca.keyFile, caCreated: ca.created };
}

export interface CertInfo {
  file: string;
  subject: string;
  issuer: string;
  serial: string;
  sans: string[];
  /** Extended key usages by name (serverAuth, clientAuth) or OID. */
  eku: string[];
  isCa: boolean;
  notBefore: string;
  notAfter: string;
  keyAlgo: string;
  keySize?: number;
  fingerprint256: string;
}

export function readCertInfo(file: string): CertInfo {
  const cert = loadCert(file);
  const pub = cert.publicKey;
  const d = pub.asymmetricKeyDetails ?? {};
  return {
    file,
    subject: cert.subject.replace(/\n/g, ', '),
    issuer: cert.issuer.replace(/\n/g, ', '),
    serial: cert.serialNumber,
    sans: parseSans(cert.subjectAltName),
    eku: (cert.keyUsage ?? []).map((o) => EKU_OIDS[o] ?? o),
    isCa: cert.ca,
    notBefore: new Date(cert.validFrom).toISOString(),
    notAfter: new Date(cert.validTo).toISOString(),
    keyAlgo: pub.asymmetricKeyType === 'ec' ? 'ecdsa' : String(pub.asymmetricKeyType),
    keySize: d.modulusLength ?? (d.namedCurve ? Number(Object.entries(CURVES).find(([, c]) => c === d.namedCurve)?.[0]) : undefined),
    fingerprint256: cert.fingerprint256,
  };
}
