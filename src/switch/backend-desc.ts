/**
 * A backend as flanctl reasons about it when switching: the inventory's Backend and the Backend
 * object of flannel's `<prefix>/config` (FLANNEL.md §2: keys are matched case-insensitively, Type is
 * lower-cased, Port 0 means the kernel default 8472) both map to one small description.
 */
import type { Backend } from '../model/inventory.js';

export interface BackendDesc {
  /** Lower-case flannel backend name: vxlan, host-gw, ipip, wireguard, udp, ipsec, … */
  type: string;
  vni?: number;
  port?: number;
  directRouting?: boolean;
}

export const VXLAN_DEFAULT_PORT = 8472;

export function describeBackend(b: Backend): BackendDesc {
  switch (b.type) {
    case 'vxlan':
      return { type: 'vxlan', vni: b.vni, port: b.port || VXLAN_DEFAULT_PORT, directRouting: b.directRouting };
    case 'ipip':
      return { type: 'ipip', directRouting: b.directRouting };
    case 'wireguard':
      return { type: 'wireguard', port: b.listenPort };
    case 'udp':
      return { type: 'udp', port: b.port };
    default:
      return { type: b.type };
  }
}

/** Value of a key matched the way Go's encoding/json does (exact first, then case-insensitive). */
function field(obj: Record<string, unknown>, name: string): unknown {
  if (name in obj) return obj[name];
  const key = Object.keys(obj).find((k) => k.toLowerCase() === name.toLowerCase());
  return key === undefined ? undefined : obj[key];
}

/** The Backend of a `<prefix>/config` JSON text; undefined when the text is not JSON. */
export function describeConfigBackend(configText: string): BackendDesc | undefined {
  let cfg: unknown;
  try {
    cfg = JSON.parse(configText);
  } catch {
    return undefined;
  }
  if (!cfg || typeof cfg !== 'object') return undefined;
  const backend = field(cfg as Record<string, unknown>, 'Backend');
  // flannel defaults a missing Backend to udp (FLANNEL.md §2).
  if (!backend || typeof backend !== 'object') return { type: 'udp', port: 8285 };
  const o = backend as Record<string, unknown>;
  const type = String(field(o, 'Type') ?? '').toLowerCase();
  const num = (k: string) => (typeof field(o, k) === 'number' ? (field(o, k) as number) : undefined);
  const bool = (k: string) => field(o, k) === true;
  switch (type) {
    case 'vxlan':
      return { type, vni: num('VNI') ?? 1, port: num('Port') || VXLAN_DEFAULT_PORT, directRouting: bool('DirectRouting') };
    case 'ipip':
      return { type, directRouting: bool('DirectRouting') };
    case 'wireguard':
      return { type, port: num('ListenPort') ?? 51820 };
    case 'udp':
      return { type, port: num('Port') ?? 8285 };
    default:
      return { type };
  }
}

/** "vxlan (VNI 1, port 8472, DirectRouting)" */
export function backendLabel(b: BackendDesc): string {
  const opts: string[] = [];
  if (b.type === 'vxlan') opts.push(`VNI ${b.vni ?? 1}`, `port ${b.port ?? VXLAN_DEFAULT_PORT}`);
  if (b.type === 'wireguard' || b.type === 'udp') opts.push(`port ${b.port}`);
  if (b.directRouting) opts.push('DirectRouting');
  return opts.length ? `${b.type} (${opts.join(', ')})` : b.type;
}

export function sameBackend(a: BackendDesc, b: BackendDesc): boolean {
  return backendLabel(a) === backendLabel(b);
}

/** Needs the nodes on one L2 segment: host-gw, and DirectRouting of vxlan/ipip. */
export function needsL2(b: BackendDesc): boolean {
  return b.type === 'host-gw' || (b.directRouting === true && (b.type === 'vxlan' || b.type === 'ipip'));
}

/** The inventory Backend for a description (for a rollback to what etcd had); undefined for types the inventory cannot spell. */
export function backendFromDesc(d: BackendDesc): Backend | undefined {
  switch (d.type) {
    case 'vxlan':
      return { type: 'vxlan', vni: d.vni ?? 1, port: d.port ?? VXLAN_DEFAULT_PORT, directRouting: d.directRouting ?? false, gbp: false };
    case 'host-gw':
      return { type: 'host-gw' };
    case 'ipip':
      return { type: 'ipip', directRouting: d.directRouting ?? false };
    case 'wireguard':
      return { type: 'wireguard', listenPort: d.port ?? 51820, persistentKeepaliveInterval: 0 };
    case 'udp':
      return { type: 'udp', port: d.port ?? 8285 };
    default:
      return undefined;
  }
}
