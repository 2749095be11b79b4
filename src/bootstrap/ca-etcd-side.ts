/**
 * etcd's side of `certs rotate --ca`: the TLS handshakes that tell whether etcd trusts a CA (a client
 * certificate from that CA, issued for the probe only: 1 h, key 0600 in a private temp dir removed
 * right after) and whether its server certificate chains to the new CA; and, where flanctl does not
 * manage etcd's TLS files, the exact steps the operator must take on each member.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Inventory } from '../model/inventory.js';
import { mapLimit } from '../engine/parallel.js';
import { caFiles, issueCert, rotationFiles } from '../pki/index.js';
import { probeEtcdTls, type TlsProbe } from '../kv/tls-probe.js';

/** Who manages etcd's TLS files when flanctl does (the lab): etcd made to read them again. */
export interface EtcdTlsOwner {
  /** For messages: "the lab's etcd (pid 1234)". */
  name: string;
  /** etcd trusts exactly pki.dir/ca.pem from now on (etcd 3.4 reads --trusted-ca-file at start: a restart). */
  reloadTrust(): Promise<void>;
  /** etcd's server (and its own client) certificate issued again from pki.dir's current signing CA. */
  reissueServerCert(): Promise<void>;
}

export type Probe = (endpoint: string, tls: { ca: string | Buffer; cert: string | Buffer; key: string | Buffer }) => Promise<TlsProbe>;

/** Probe every endpoint with a throw-away client certificate from the CA in certFile/keyFile. */
export async function probeWithCaClient(inv: Inventory, ca: { certFile: string; keyFile: string }, trust: string | Buffer, probe: Probe = probeEtcdTls): Promise<TlsProbe[]> {
  const dir = await mkdtemp(join(tmpdir(), 'flanctl-ca-probe-'));
  try {
    const c = await issueCert({ caDir: dir, outDir: dir, name: 'probe', cn: 'flanctl-ca-probe', key: { algo: 'ecdsa', size: 256 }, expiry: '1h', usage: 'client', ca });
    const [cert, key] = await Promise.all([readFile(c.certFile), readFile(c.keyFile)]);
    return await probeAll(inv, { ca: trust, cert, key }, probe);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

export async function probeAll(inv: Inventory, tls: Parameters<Probe>[1], probe: Probe = probeEtcdTls): Promise<TlsProbe[]> {
  const r = await mapLimit(inv.etcd.endpoints, 8, (e) => probe(e, tls));
  return r.map((x, i) => (x.ok ? x.value : { endpoint: inv.etcd.endpoints[i], ok: false, error: String(x.error) }));
}

export const probeText = (ps: TlsProbe[]) => ps.filter((p) => !p.ok).map((p) => `${p.endpoint}: ${p.error}`).join('; ');

const hostsOf = (inv: Inventory) => [...new Set(inv.etcd.endpoints.map((e) => new URL(e).hostname))];

/** Phase 1 → 2: etcd must accept client certificates from the new CA. */
export function trustSteps(inv: Inventory, rerun: string): string[] {
  const f = rotationFiles(inv.pki.dir);
  return [
    `flanctl does not manage etcd's TLS files: make every etcd member trust the new CA as well, one member at a time:`,
    `  1. append ${f.newCert} (the new CA's certificate; public) to the file the member's --trusted-ca-file names, keeping the CAs it holds (the old CA must stay trusted for now)`,
    `  2. restart the member (etcd 3.4 reads --trusted-ca-file only at start) and wait until \`etcdctl endpoint health\` is ok`,
    `then run \`${rerun}\` again: it checks every endpoint with a client certificate from the new CA and continues with phase 2`,
  ];
}

/** Phase 2 → 3: etcd's server certificate must chain to the new CA before the nodes stop trusting the old one. */
export function serverCertSteps(inv: Inventory, rerun: string): string[] {
  const ca = caFiles(inv.pki.dir);
  const sans = hostsOf(inv).map((h) => (/^[\d.]+$/.test(h) ? `IP:${h}` : `DNS:${h}`)).join(',');
  return [
    `etcd's server certificate must be issued by the new CA before the old CA is dropped from the nodes; on each member, one at a time:`,
    `  1. issue a server certificate from the new CA (${ca.certFile}, whose first certificate is now the new CA; its key ${ca.keyFile} stays on this machine) with that member's addresses as SANs, e.g.`,
    `       openssl req -new -nodes -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -subj /CN=etcd -keyout server-key.pem -out server.csr`,
    `       printf 'subjectAltName=${sans}\\nextendedKeyUsage=serverAuth,clientAuth\\n' > san.ext`,
    `       openssl x509 -req -in server.csr -CA ${ca.certFile} -CAkey ${ca.keyFile} -CAcreateserial -days 3650 -extfile san.ext -out server.pem`,
    `  2. install server.pem / server-key.pem (0600) as the member's --cert-file / --key-file (etcd 3.4 uses them from the next connection on)`,
    `then run \`${rerun}\` again: it checks every endpoint's server certificate against the new CA alone and continues with phase 3`,
  ];
}

/** After phase 3, when etcd still accepts the old CA's clients. */
export function dropSteps(inv: Inventory): string[] {
  const f = rotationFiles(inv.pki.dir);
  return [
    `etcd still accepts client certificates from the old CA: once no other etcd client (e.g. kube-apiserver) uses one, remove the old CA (${f.oldCert}) from every member's --trusted-ca-file and restart the members one at a time`,
  ];
}
