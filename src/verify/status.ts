/**
 * `flanctl status`: the leases in etcd joined with the inventory by PublicIP. Leases of hosts not in
 * the inventory and nodes without a lease are flagged. Works with any Kv (etcd v3, v2, memory).
 */
import { EtcdError, FlanctlError, errorMessage } from '../errors.js';
import type { Inventory } from '../model/inventory.js';
import type { Kv } from '../kv/kv.js';
import { type Lease } from '../model/leases.js';
import { parseCidr } from './addr.js';
import { formatTtl } from './checks.js';
import { listLeases } from '../kv/flannel-keys.js';
import { printable } from '../model/text.js';

export interface StatusLease {
  subnet: string;
  /** Inventory node whose public IP the lease carries; null for an unknown host. */
  node: string | null;
  publicIp: string;
  backendType: string | null;
  vtepMac: string | null;
  /** Seconds left on the etcd lease/TTL; null for a reservation (no expiry). */
  ttlSeconds: number | null;
  expiresIn: string;
  flags: string[];
}

export interface StatusReport {
  api: string;
  prefix: string;
  backend: string;
  leases: StatusLease[];
  /** Inventory nodes with no lease in etcd. */
  nodesWithoutLease: string[];
  /** Leases whose PublicIP matches no inventory node. */
  unknownHosts: string[];
}

const subnetOrder = (a: string, b: string) => parseCidr(a).base - parseCidr(b).base;

export function joinLeases(inv: Inventory, leases: Lease[], api: string): StatusReport {
  const byIp = new Map(inv.nodes.map((n) => [n.publicIp, n.name]));
  const perIp = new Map<string, number>();
  for (const l of leases) perIp.set(l.publicIp, (perIp.get(l.publicIp) ?? 0) + 1);
  const want = inv.network.backend.type;
  const rows: StatusLease[] = [...leases]
    .sort((a, b) => subnetOrder(a.subnet, b.subnet))
    .map((l) => {
      const node = byIp.get(l.publicIp) ?? null;
      const flags: string[] = [];
      if (!node) flags.push('unknown host');
      if ((perIp.get(l.publicIp) ?? 0) > 1) flags.push('duplicate PublicIP');
      if (l.backendType !== want) flags.push(`backend ${l.backendType ?? '(none)'} ≠ inventory ${want}`);
      if (l.ttl !== undefined && l.ttl <= 3600) flags.push('expiring');
      return {
        subnet: l.subnet,
        node,
        publicIp: l.publicIp,
        backendType: l.backendType ?? null,
        vtepMac: typeof l.backendData?.VtepMAC === 'string' ? l.backendData.VtepMAC : null,
        ttlSeconds: l.ttl ?? null,
        expiresIn: formatTtl(l.ttl),
        flags,
      };
    });
  const leasedIps = new Set(leases.map((l) => l.publicIp));
  return {
    api,
    prefix: inv.etcd.prefix,
    backend: want,
    leases: rows,
    nodesWithoutLease: inv.nodes.filter((n) => !leasedIps.has(n.publicIp)).map((n) => n.name),
    unknownHosts: rows.filter((r) => !r.node).map((r) => r.publicIp),
  };
}

export async function readStatus(inv: Inventory, kv: Kv): Promise<StatusReport> {
  try {
    return joinLeases(inv, await listLeases(kv, inv.etcd.prefix, { ttl: true }), kv.api);
  } catch (err) {
    if (err instanceof FlanctlError) throw err;
    throw new EtcdError(`cannot list leases under ${inv.etcd.prefix}/subnets: ${errorMessage(err)}`, { cause: err });
  }
}

export function renderStatus(report: StatusReport): string {
  const head = ['SUBNET', 'NODE', 'PUBLIC IP', 'BACKEND', 'VTEP MAC', 'EXPIRES IN', ''];
  // Lease fields come from etcd: control characters (terminal escapes) are replaced before printing.
  const rows = report.leases.map((l) => [l.subnet, l.node ?? '?', l.publicIp, l.backendType ?? '-', l.vtepMac ?? '-', l.expiresIn, l.flags.length ? `! ${l.flags.join(', ')}` : ''].map(printable));
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)) + 2);
  const line = (cols: string[]) => cols.map((c, i) => c.padEnd(widths[i])).join('').trimEnd();
  const out = [`Leases under ${report.prefix}/subnets (etcd ${report.api}): ${report.leases.length}`];
  out.push(report.leases.length ? [line(head), ...rows.map(line)].join('\n') : '  (none)');
  for (const n of report.nodesWithoutLease) out.push(`! ${n}: no lease in etcd (flanneld not running there, or a different public IP)`);
  for (const ip of report.unknownHosts) out.push(`! ${printable(ip)}: lease of a host not in the inventory`);
  return out.join('\n');
}
