/**
 * src/kv/ owns the etcd seam Kv (kv.ts): get / put / delete / list over v3 (etcd3.ts), v2 (v2.ts,
 * HTTP) or memory (memory.ts), and flannel's keys read through it (flannel-keys.ts). It may import
 * model/ and errors.ts only.
 *
 * openKv(inv): the etcd the inventory names, through the API it names (v3 for flannel >= 0.18,
 * v2 for flannel <= 0.17), with flanctl's TLS files (etcdTlsFiles). memoryKv() for unit tests.
 */
import { existsSync, readFileSync } from 'node:fs';
import { EtcdError } from '../errors.js';
import { etcdTlsFiles, type Inventory } from '../model/inventory.js';
import { etcd3Kv } from './etcd3.js';
import type { Kv } from './kv.js';
import { v2Kv } from './v2.js';

export type { Kv, KvEntry } from './kv.js';
export { memoryKv, type MemoryKv } from './memory.js';
export { etcd3Kv } from './etcd3.js';
export { v2Kv } from './v2.js';

export interface OpenKvOptions {
  /** Per-call deadline; default 5000 ms. */
  timeoutMs?: number;
}

/** Read the TLS trio; https endpoints need all three files (flanneld ignores a lone CA, FLANNEL.md §1). */
export function readKvTls(inv: Inventory): { ca: Buffer; cert: Buffer; key: Buffer } | undefined {
  const https = inv.etcd.endpoints.some((e) => e.startsWith('https://'));
  if (!https) return undefined;
  const files = etcdTlsFiles(inv);
  const missing = Object.entries(files).filter(([, f]) => !existsSync(f));
  if (missing.length) {
    throw new EtcdError(`etcd TLS file${missing.length > 1 ? 's' : ''} not found: ${missing.map(([k, f]) => `${k} ${f}`).join(', ')}`, {
      hint: 'Run `flanctl certs generate` (files in pki.dir), or set etcd.caFile/certFile/keyFile in the inventory.',
    });
  }
  return { ca: readFileSync(files.ca), cert: readFileSync(files.cert), key: readFileSync(files.key) };
}

export async function openKv(inv: Inventory, opts: OpenKvOptions = {}): Promise<Kv> {
  const tls = readKvTls(inv);
  const common = { endpoints: inv.etcd.endpoints, tls, timeoutMs: opts.timeoutMs, tlsFiles: tls ? etcdTlsFiles(inv) : undefined };
  return inv.etcd.api === 'v2' ? v2Kv(common) : etcd3Kv(common);
}
