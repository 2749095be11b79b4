/**
 * DER building for X.509 certificates and PKCS#10 requests. node-forge supplies the ASN.1 encoder;
 * keys and signatures come from node:crypto, so RSA and ECDSA (P-256) keys and CAs both work
 * (node-forge alone can only sign with RSA).
 */
import { createHash, randomBytes, sign, type KeyObject } from 'node:crypto';
import { isIP } from 'node:net';
import forge from 'node-forge';
import { NAME_OIDS, type Subject } from './subject.js';

export { subjectText, toPem, type Subject, type SubjectNames } from './subject.js';

const { asn1 } = forge;
type Asn1 = forge.asn1.Asn1;
/** Exported by node-forge but missing from @types/node-forge. */
const extensionToAsn1 = (forge.pki as unknown as { certificateExtensionToAsn1(e: unknown): Asn1 }).certificateExtensionToAsn1;
const U = asn1.Class.UNIVERSAL;
const T = asn1.Type;

const OID = {
  sha256WithRSA: '1.2.840.113549.1.1.11',
  ecdsaWithSHA256: '1.2.840.10045.4.3.2',
  extensionRequest: '1.2.840.113549.1.9.14',
  subjectKeyIdentifier: '2.5.29.14',
  authorityKeyIdentifier: '2.5.29.35',
} as const;

const seq = (v: Asn1[]) => asn1.create(U, T.SEQUENCE, true, v);
const set = (v: Asn1[]) => asn1.create(U, T.SET, true, v);
const oid = (o: string) => asn1.create(U, T.OID, false, asn1.oidToDer(o).getBytes());
const int = (bytes: Buffer) => asn1.create(U, T.INTEGER, false, bytes.toString('binary'));
const bin = (b: Buffer) => b.toString('binary');

export const fromDer = (der: Buffer): Asn1 => (asn1.fromDer as unknown as (b: forge.util.ByteStringBuffer, o: object) => Asn1)(forge.util.createBuffer(bin(der)), { decodeBitStrings: false });
export const toDer = (a: Asn1): Buffer => Buffer.from(asn1.toDer(a).getBytes(), 'binary');

/** The subject as the ASN.1 Name, attributes in cfssl's order (C, ST, L, O, OU, CN). */
export function nameAsn1(subject: Subject): Asn1 {
  const rdns: Asn1[] = [];
  for (const [key, o] of NAME_OIDS) {
    const value = subject[key as keyof Subject];
    if (!value) continue;
    const printable = key === 'C' && /^[A-Za-z0-9 '()+,./:=?-]*$/.test(value);
    const str = printable
      ? asn1.create(U, T.PRINTABLESTRING, false, value)
      : asn1.create(U, T.UTF8, false, forge.util.encodeUtf8(value));
    rdns.push(set([seq([oid(o), str])]));
  }
  return seq(rdns);
}

function sigAlgorithm(key: KeyObject): Asn1 {
  if (key.asymmetricKeyType === 'rsa') return seq([oid(OID.sha256WithRSA), asn1.create(U, T.NULL, false, '')]);
  if (key.asymmetricKeyType === 'ec') return seq([oid(OID.ecdsaWithSHA256)]);
  throw new Error(`unsupported signing key type ${key.asymmetricKeyType}`);
}

function signed(body: Asn1, key: KeyObject): Buffer {
  const signature = sign('sha256', toDer(body), key);
  return toDer(seq([body, sigAlgorithm(key), asn1.create(U, T.BITSTRING, false, '\x00' + bin(signature))]));
}

function time(date: Date): Asn1 {
  const d = new Date(Math.floor(date.getTime() / 1000) * 1000);
  return d.getUTCFullYear() < 2050
    ? asn1.create(U, T.UTCTIME, false, asn1.dateToUtcTime(d))
    : asn1.create(U, T.GENERALIZEDTIME, false, asn1.dateToGeneralizedTime(d));
}

/** RFC 5280 method 1: SHA-1 of the subjectPublicKey bits. */
export function keyIdentifier(publicKey: KeyObject): Buffer {
  const spki = fromDer(publicKey.export({ type: 'spki', format: 'der' }) as Buffer);
  const bits = (spki.value as Asn1[])[1].value as string;
  return createHash('sha1').update(Buffer.from(bits.slice(1), 'binary')).digest();
}

export interface ExtensionSpec {
  ca: boolean;
  keyUsage: { digitalSignature?: boolean; keyEncipherment?: boolean; keyCertSign?: boolean; cRLSign?: boolean };
  /** e.g. ['clientAuth'] */
  extKeyUsage: ('serverAuth' | 'clientAuth')[];
  hosts: string[];
  subjectKeyId: Buffer;
  authorityKeyId?: Buffer;
}

const isIp = (h: string) => isIP(h) !== 0;

function sanExtension(hosts: string[]) {
  return {
    name: 'subjectAltName',
    altNames: hosts.map((h) => (isIp(h) ? { type: 7, ip: h } : { type: 2, value: h })),
  };
}

function extensionsList(spec: ExtensionSpec): Asn1[] {
  const dummy = forge.pki.createCertificate();
  const exts: Record<string, unknown>[] = [
    { name: 'keyUsage', critical: true, ...spec.keyUsage },
    ...(spec.extKeyUsage.length ? [{ name: 'extKeyUsage', ...Object.fromEntries(spec.extKeyUsage.map((u) => [u, true])) }] : []),
    { name: 'basicConstraints', critical: true, cA: spec.ca },
    { id: OID.subjectKeyIdentifier, value: asn1.create(U, T.OCTETSTRING, false, bin(spec.subjectKeyId)) },
  ];
  if (spec.authorityKeyId) {
    exts.push({
      id: OID.authorityKeyIdentifier,
      value: seq([asn1.create(asn1.Class.CONTEXT_SPECIFIC, 0, false, bin(spec.authorityKeyId))]),
    });
  }
  if (spec.hosts.length) exts.push(sanExtension(spec.hosts));
  dummy.setExtensions(exts);
  return dummy.extensions.map((e) => extensionToAsn1(e));
}

export interface CertSpec {
  subject: Asn1;
  issuer: Asn1;
  publicKey: KeyObject;
  signingKey: KeyObject;
  notBefore: Date;
  notAfter: Date;
  extensions: ExtensionSpec;
}

function serialNumber(): Buffer {
  const s = randomBytes(16);
  s[0] = (s[0] & 0x7f) | 0x01; // positive, no leading zero byte
  return s;
}

/** A DER X.509 v3 certificate. */
export function buildCertificate(spec: CertSpec): Buffer {
  const tbs = seq([
    asn1.create(asn1.Class.CONTEXT_SPECIFIC, 0, true, [asn1.create(U, T.INTEGER, false, asn1.integerToDer(2).getBytes())]),
    int(serialNumber()),
    sigAlgorithm(spec.signingKey),
    spec.issuer,
    seq([time(spec.notBefore), time(spec.notAfter)]),
    spec.subject,
    fromDer(spec.publicKey.export({ type: 'spki', format: 'der' }) as Buffer),
    asn1.create(asn1.Class.CONTEXT_SPECIFIC, 3, true, [seq(extensionsList(spec.extensions))]),
  ]);
  return signed(tbs, spec.signingKey);
}

/** A DER PKCS#10 request (what cfssl writes as <name>.csr), SANs in an extensionRequest. */
export function buildCsr(subject: Asn1, publicKey: KeyObject, privateKey: KeyObject, hosts: string[]): Buffer {
  const attrs: Asn1[] = [];
  if (hosts.length) {
    const dummy = forge.pki.createCertificate();
    dummy.setExtensions([sanExtension(hosts)]);
    const exts = seq(dummy.extensions.map((e) => extensionToAsn1(e)));
    attrs.push(seq([oid(OID.extensionRequest), set([exts])]));
  }
  const info = seq([
    asn1.create(U, T.INTEGER, false, asn1.integerToDer(0).getBytes()),
    subject,
    fromDer(publicKey.export({ type: 'spki', format: 'der' }) as Buffer),
    asn1.create(asn1.Class.CONTEXT_SPECIFIC, 0, true, attrs),
  ]);
  return signed(info, privateKey);
}

/** The subject Name of a DER certificate, as ASN.1 (used verbatim as the issuer of what it signs). */
export function subjectOfCertificate(der: Buffer): Asn1 {
  const tbs = (fromDer(der).value as Asn1[])[0].value as Asn1[];
  const hasVersion = tbs[0].tagClass === asn1.Class.CONTEXT_SPECIFIC;
  return tbs[hasVersion ? 5 : 4];
}
