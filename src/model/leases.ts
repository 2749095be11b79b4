/**
 * flannel's subnet leases in etcd (FLANNEL.md §1): key `<prefix>/subnets/<a.b.c.d>-<len>`,
 * value JSON {PublicIP, PublicIPv6, BackendType, BackendData, BackendV6Data}.
 */
/** One key as the Kv seam returns it (structurally kv/kv.ts's KvEntry; model/ does not import kv/). */
export interface LeaseEntry {
  key: string;
  value: string;
  ttl?: number;
}

export interface Lease {
  key: string;
  /** "10.244.5.0/24" */
  subnet: string;
  publicIp: string;
  /** undefined for udp/alloc, which omit it. */
  backendType?: string;
  backendData?: { VNI?: number; VtepMAC?: string; [k: string]: unknown };
  /** Seconds left; undefined for a reservation (no lease attached). */
  ttl?: number;
  value: string;
}

export const subnetsPrefix = (prefix: string) => `${prefix.replace(/\/$/, '')}/subnets/`;
export const configKey = (prefix: string) => `${prefix.replace(/\/$/, '')}/config`;

/** "10.244.5.0/24" → "<prefix>/subnets/10.244.5.0-24" */
export function leaseKey(prefix: string, subnet: string): string {
  return subnetsPrefix(prefix) + subnet.replace('/', '-');
}

/** "<prefix>/subnets/10.244.5.0-24" → "10.244.5.0/24"; undefined for anything else (incl. dual-stack keys' v6 part). */
export function subnetFromKey(prefix: string, key: string): string | undefined {
  const base = subnetsPrefix(prefix);
  if (!key.startsWith(base)) return undefined;
  const m = /^(\d{1,3}(?:\.\d{1,3}){3})-(\d{1,2})(?:&.*)?$/.exec(key.slice(base.length));
  return m ? `${m[1]}/${m[2]}` : undefined;
}

export function parseLease(prefix: string, entry: LeaseEntry): Lease | undefined {
  const subnet = subnetFromKey(prefix, entry.key);
  if (!subnet) return undefined;
  let attrs: { PublicIP?: string; BackendType?: string; BackendData?: Lease['backendData'] } = {};
  try {
    attrs = JSON.parse(entry.value);
  } catch {
    return undefined;
  }
  return {
    key: entry.key,
    subnet,
    publicIp: attrs.PublicIP ?? '0.0.0.0',
    backendType: attrs.BackendType,
    backendData: attrs.BackendData,
    ttl: entry.ttl,
    value: entry.value,
  };
}
