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
  const schemes = new Set(inv.etcd.endpoints.map((e) => new URL(e).protocol));
  if (schemes.size > 1) throw new EtcdError(`etcd.endpoints mix http and https (${inv.etcd.endpoints.join(', ')}); refusing to fall back to plain http`);
  const plain = schemes.has('http:');
  if (plain && !inv.etcd.insecure) {
    throw new EtcdError(`etcd.endpoints are plain http (${inv.etcd.endpoints.join(', ')}); refusing to talk to etcd unencrypted`, { hint: 'Use https:// endpoints, or set etcd.insecure: true in the inventory to accept plain http.' });
  }
  const tls = readKvTls(inv);
  const common = { endpoints: inv.etcd.endpoints, tls, timeoutMs: opts.timeoutMs, tlsFiles: tls ? etcdTlsFiles(inv) : undefined };
  const kv = inv.etcd.api === 'v2' ? v2Kv(common) : etcd3Kv(common);
  return plain ? noSecretsInClear(kv) : kv;
}

/** Over plain http, a value holding a secret (the wireguard PSK) is never sent. */
export function noSecretsInClear(kv: Kv): Kv {
  return {
    ...kv,
    put: async (key, value) => {
      if (/"psk"\s*:/i.test(value)) {
        throw new EtcdError(`refusing to write ${key} over plain http: it holds a secret (the wireguard PSK)`, { hint: 'Use https:// etcd endpoints.' });
      }
      return kv.put(key, value);
    },
  };
}
