/**
 * Lease keys and values exactly as flanneld writes them (FLANNEL.md §1, §9):
 * key `<prefix>/subnets/<a.b.c.d>-<len>`; value JSON in LeaseAttrs field order.
 * v0.20 (>= 0.14): {"PublicIP","PublicIPv6":null,"BackendType","BackendData":{"VNI","VtepMAC"}}
 * v0.11:           {"PublicIP","BackendType","BackendData":{"VtepMAC"}}
 */
import { formatNet4, parseNet4, type Net4 } from './ip4.js';
import type { Flavour } from './version.js';

export interface LeaseAttrs {
  publicIp: string;
  backendType?: string;
  /** vxlan: VNI + VTEP MAC. */
  vxlan?: { vni: number; vtepMac: string };
}

export interface PeerLease {
  key: string;
  subnet: Net4;
  publicIp: string;
  backendType?: string;
  vni?: number;
  vtepMac?: string;
  /** etcd modification revision of the key, when the registry reports it (orders watch events). */
  revision?: number;
}

export const trimPrefix = (prefix: string) => prefix.replace(/\/+$/, '');
export const subnetsDir = (prefix: string) => `${trimPrefix(prefix)}/subnets`;
export const configKeyOf = (prefix: string) => `${trimPrefix(prefix)}/config`;
export const leaseKeyOf = (prefix: string, sn: Net4) => `${subnetsDir(prefix)}/${formatNet4(sn).replace('/', '-')}`;

export function leaseValue(flavour: Flavour, attrs: LeaseAttrs): string {
  const v: Record<string, unknown> = { PublicIP: attrs.publicIp || '0.0.0.0' };
  if (flavour !== 'v0.11') v.PublicIPv6 = null;
  if (attrs.backendType) v.BackendType = attrs.backendType;
  if (attrs.vxlan) {
    v.BackendData =
      flavour === 'v0.11'
        ? { VtepMAC: attrs.vxlan.vtepMac }
        : { VNI: attrs.vxlan.vni, VtepMAC: attrs.vxlan.vtepMac };
  }
  return JSON.stringify(v);
}

/** Parse one `<prefix>/subnets/...` entry; undefined for keys/values that are not leases. */
export function parsePeerLease(prefix: string, key: string, value: string): PeerLease | undefined {
  const base = subnetsDir(prefix) + '/';
  if (!key.startsWith(base)) return undefined;
  const m = /^(\d{1,3}(?:\.\d{1,3}){3})-(\d{1,2})(?:&.*)?$/.exec(key.slice(base.length));
  const subnet = m ? parseNet4(`${m[1]}/${m[2]}`) : undefined;
  if (!subnet) return undefined;
  let attrs: { PublicIP?: unknown; BackendType?: unknown; BackendData?: { VNI?: unknown; VtepMAC?: unknown } | null };
  try {
    attrs = JSON.parse(value);
  } catch {
    return undefined;
  }
  if (typeof attrs !== 'object' || attrs === null) return undefined;
  const data = attrs.BackendData && typeof attrs.BackendData === 'object' ? attrs.BackendData : {};
  return {
    key,
    subnet,
    publicIp: typeof attrs.PublicIP === 'string' ? attrs.PublicIP : '0.0.0.0',
    backendType: typeof attrs.BackendType === 'string' ? attrs.BackendType : undefined,
    vni: typeof data.VNI === 'number' ? data.VNI : undefined,
    vtepMac: typeof data.VtepMAC === 'string' ? data.VtepMAC : undefined,
  };
}
