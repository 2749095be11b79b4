/**
 * Facts per node for the report (--json, --html), not judged: the flanneld version the node runs
 * (`flanneld -version`, which flannel prints on stderr), its lease's subnet, time left and age, and
 * when its flanneld certificate expires. Never throws: what cannot be read is null.
 */
import { X509Certificate } from 'node:crypto';
import type { Connector } from '../connector/connector.js';
import type { Inventory } from '../model/inventory.js';
import type { Lease } from '../model/leases.js';
import { remotePaths } from '../model/templates.js';
import { flanneldCertPath } from './node-layout.js';

/** flanneld asks etcd for a 24 h lease (Grant(86400) / ttl=86400, FLANNEL.md §1) and renews it before it ends. */
export const FLANNEL_LEASE_SECONDS = 86_400;

export interface NodeInfo {
  node: string;
  /** First line of `flanneld -version` on the node, e.g. "v0.20.2"; null when it could not be run. */
  flanneldVersion: string | null;
  /** The node's lease in etcd; null when it has none. */
  lease: {
    subnet: string;
    /** Seconds until etcd drops it; null for a reservation (no expiry). */
    ttlSeconds: number | null;
    /** Seconds since flanneld was granted or last renewed it (24 h − ttl); null without a ttl. */
    ageSeconds: number | null;
  } | null;
  /** notAfter of the flanneld certificate on the node (ISO 8601); null without TLS or when unreadable. */
  certExpires: string | null;
}

export function leaseInfo(lease: Lease | undefined): NodeInfo['lease'] {
  if (!lease) return null;
  const ttl = lease.ttl ?? null;
  return { subnet: lease.subnet, ttlSeconds: ttl, ageSeconds: ttl === null ? null : Math.max(0, FLANNEL_LEASE_SECONDS - ttl) };
}

/** The version token of flanneld's -version output ("v0.20.2", or the first line when it has none). */
export function parseFlanneldVersion(output: string): string | null {
  const line = output.split('\n').map((l) => l.trim()).find(Boolean);
  if (!line) return null;
  return /\bv?\d+\.\d+\.\d+[\w.+-]*/.exec(line)?.[0] ?? line.slice(0, 80);
}

async function flanneldVersion(conn: Connector, inv: Inventory): Promise<string | null> {
  try {
    const r = await conn.exec([remotePaths(inv).flanneld, '-version']);
    return r.code === 0 ? parseFlanneldVersion(`${r.stderr}\n${r.stdout}`) : null;
  } catch {
    return null;
  }
}

async function certExpiry(conn: Connector, inv: Inventory): Promise<string | null> {
  const path = flanneldCertPath(inv);
  if (!path) return null;
  try {
    const pem = await conn.read(path);
    return pem ? new Date(new X509Certificate(pem).validTo).toISOString() : null;
  } catch {
    return null;
  }
}

export async function readNodeInfo(conn: Connector, inv: Inventory, node: string, lease: Lease | undefined): Promise<NodeInfo> {
  const [version, cert] = await Promise.all([flanneldVersion(conn, inv), certExpiry(conn, inv)]);
  return { node, flanneldVersion: version, lease: leaseInfo(lease), certExpires: cert };
}
