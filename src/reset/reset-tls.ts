/**
 * reset removes the node's TLS files (ca.pem, flanneld.pem, flanneld-key.pem in configDir) only when
 * they hold exactly what flanctl uploads from this machine (issue 12): the local files are the record.
 * A file with other content (the operator's own CA, another tool's cert) or with no local record stays.
 */
import { existsSync, readFileSync } from 'node:fs';
import type { Connector } from '../connector/connector.js';
import { remoteSha256, sha256Hex } from '../connector/sha256.js';
import { etcdTlsFiles, type Inventory } from '../model/inventory.js';
import { remotePaths } from '../model/templates.js';
import { certFiles } from '../pki/index.js';

/** remote path → the local file bootstrap uploads there. */
export function tlsSources(inv: Inventory): Map<string, string> {
  const p = remotePaths(inv);
  const flanneld = certFiles(inv.pki.dir, 'flanneld');
  return new Map([[p.ca, etcdTlsFiles(inv).ca], [p.cert, flanneld.certFile], [p.key, flanneld.keyFile]]);
}

/** Of the given remote files, the TLS ones flanctl did not write, with the reason. */
export async function foreignTlsFiles(conn: Connector, inv: Inventory, files: string[]): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const [remote, local] of tlsSources(inv)) {
    if (!files.includes(remote)) continue;
    if (!existsSync(local)) {
      out.set(remote, `no local record (${local}) says flanctl wrote it`);
      continue;
    }
    if ((await remoteSha256(conn, remote)) !== sha256Hex(readFileSync(local))) out.set(remote, `differs from ${local}, which flanctl uploads`);
  }
  return out;
}
