/**
 * The TLS files every node gets (pki/ on the control machine, FLANNEL.md §7): the CA etcd's server
 * certificate chains to and the flanneld client certificate, both 0644, and the flanneld key, 0600.
 */
import { readFileSync } from 'node:fs';
import { PkiError } from '../errors.js';
import { etcdTlsFiles, type Inventory } from '../model/inventory.js';
import { certFiles } from '../pki/index.js';
import { etcdUsesTls } from '../model/templates.js';
import type { Material } from './desired.js';

/** The node-side TLS files: the CA etcd's server cert chains to, and the flanneld client cert/key. The CA key is never read. */
export function readTlsMaterial(inv: Inventory): Material['tls'] {
  if (!etcdUsesTls(inv)) return undefined;
  const flanneld = certFiles(inv.pki.dir, 'flanneld');
  return {
    ca: publicPem(etcdTlsFiles(inv).ca, inv.etcd.caFile ? 'etcd.caFile' : 'pki.dir'),
    cert: publicPem(flanneld.certFile, 'pki.dir'),
    key: readFileSync(flanneld.keyFile, 'utf8'),
  };
}

/** A certificate file that goes to every node world-readable (0644): refused when it holds a private key. */
function publicPem(file: string, setting: string): string {
  const text = readFileSync(file, 'utf8');
  if (/-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----/.test(text)) {
    throw new PkiError(`${file} (${setting}) contains a PRIVATE KEY block; it would be uploaded world-readable (0644) to every node, so nothing was uploaded`, {
      hint: 'Keep only the CERTIFICATE block(s) in it; the CA key (ca-key.pem) never leaves this machine.',
    });
  }
  return text;
}
