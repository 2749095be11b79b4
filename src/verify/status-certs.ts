/**
 * `status`: each node's flanneld certificate as installed on the node (issue 16 item 5), read over
 * SSH from flannel.configDir — not the control machine's copy, which may be newer than what a node got.
 */
import { X509Certificate } from 'node:crypto';
import { errorMessage } from '../errors.js';
import { mapLimit } from '../engine/parallel.js';
import type { Inventory } from '../model/inventory.js';
import { flanneldCertPath } from './node-layout.js';
import type { ConnectorSource } from './verify.js';

export interface NodeCert {
  node: string;
  path: string;
  notAfter?: string;
  daysLeft?: number;
  serial?: string;
  error?: string;
}

export async function readNodeCerts(inv: Inventory, pool: ConnectorSource, now = Date.now()): Promise<NodeCert[]> {
  const path = flanneldCertPath(inv);
  if (!path) return [];
  const results = await mapLimit(inv.nodes, inv.ssh.concurrency, async (n): Promise<NodeCert> => {
    const pem = await (await pool.get(n.name)).read(path);
    if (!pem) return { node: n.name, path, error: 'not installed' };
    const cert = new X509Certificate(pem);
    const until = Date.parse(cert.validTo);
    return { node: n.name, path, notAfter: new Date(until).toISOString(), daysLeft: Math.floor((until - now) / 86_400_000), serial: cert.serialNumber };
  });
  return results.map((r, i) => (r.ok ? r.value : { node: inv.nodes[i].name, path, error: errorMessage(r.error) }));
}

export function renderNodeCerts(certs: NodeCert[], warnDays = 30): string[] {
  if (!certs.length) return [];
  return [
    `flanneld certificates on the nodes (${certs[0].path}):`,
    ...certs.map((c) =>
      c.error
        ? `! ${c.node}: ${c.error}`
        : `${(c.daysLeft ?? 0) < warnDays ? '!' : ' '} ${c.node}: expires ${c.notAfter!.slice(0, 10)} (${c.daysLeft} days), serial ${c.serial}`,
    ),
  ];
}
