/**
 * What a stopped node must lose before flanneld starts on another backend (FLANNEL.md §6): flanneld
 * never removes the old backend's device (with its address, ARP and FDB entries), its routes, or
 * ipsec's xfrm state. Pure: observed node state in, argv lists out.
 */
import type { BackendDesc } from './backend-desc.js';
import { cidrWithin, normaliseCidr } from '../model/cidr.js';
import { routeDelArgv, routeText, type IpRoute } from './iproute.js';

/** What a node looks like while flanneld is stopped (read by plan.ts). */
export interface NodeNetState {
  /** Every link name (`ip -j link`). */
  links: string[];
  /** IPv4 routes of the main table (`ip -j route show table main`). */
  routes: IpRoute[];
  /** The node's own lease subnet ("10.244.5.0/24"), when known: its bridge route is kept. */
  ownSubnet?: string;
  /** Neighbour / FDB entry counts per flannel device (only shown in the plan). */
  neigh?: Record<string, number>;
  fdb?: Record<string, number>;
}

export interface CleanupAction {
  argv: string[];
  summary: string;
  /** Already gone (e.g. a route removed with its device) counts as done. */
  okIfMissing: boolean;
}

export interface CleanupPlan {
  devices: Array<{ name: string; reason: string; neigh?: number; fdb?: number }>;
  routes: Array<{ route: IpRoute; text: string }>;
  xfrmFlush: boolean;
  /** In execution order: routes, then devices, then xfrm. */
  actions: CleanupAction[];
}

const FLANNEL_DEVICE = /^(flannel(-v6)?\.\d+|flannel\.ipip|flannel-wg(-v6)?|flannel0)$/;

/** Device names flanneld creates (vxlan flannel.<VNI> / flannel-v6.<VNI>, flannel.ipip, flannel-wg[-v6], udp flannel0). */
export function isFlannelDevice(name: string): boolean {
  return FLANNEL_DEVICE.test(name);
}

/** The devices a backend creates (FLANNEL.md §4). host-gw, ipsec and alloc create none. */
export function backendDevices(b: BackendDesc): string[] {
  switch (b.type) {
    case 'vxlan':
      return [`flannel.${b.vni ?? 1}`, `flannel-v6.${b.vni ?? 1}`];
    case 'ipip':
      return ['flannel.ipip'];
    case 'wireguard':
      return ['flannel-wg', 'flannel-wg-v6'];
    case 'udp':
      return ['flannel0'];
    default:
      return [];
  }
}

/**
 * Routes inside the Network that flanneld (of any backend) may have left: everything whose
 * destination lies inside `network`, except the node's own subnet (its docker0/cni0 bridge route) and
 * the connected routes of non-flannel devices (an address someone put on a bridge).
 */
export function staleRoutes(network: string, state: Pick<NodeNetState, 'routes' | 'ownSubnet'>): IpRoute[] {
  const own = state.ownSubnet && normaliseCidr(state.ownSubnet);
  return state.routes.filter((r) => {
    if (r.dst === 'default' || !cidrWithin(r.dst, network)) return false;
    if (own && normaliseCidr(r.dst) === own) return false;
    if (r.protocol === 'kernel' && !(r.dev && isFlannelDevice(r.dev))) return false;
    return true;
  });
}

function reasonFor(dev: string, from: BackendDesc, to: BackendDesc): string {
  const recreated = backendDevices(to).includes(dev);
  if (backendDevices(from).includes(dev)) {
    return recreated ? `left by ${from.type}; flanneld recreates it with the new settings` : `left by ${from.type}`;
  }
  return recreated ? 'stale; flanneld recreates it' : 'stale flannel device from an earlier backend';
}

/**
 * The cleanup for one node switching `from` → `to`. With observed state, only devices that exist are
 * deleted (a second run plans nothing); without it, the old backend's devices are assumed present.
 */
export function cleanupPlan(from: BackendDesc, to: BackendDesc, network: string, state?: NodeNetState): CleanupPlan {
  const names = state
    ? state.links.filter(isFlannelDevice)
    : backendDevices(from).filter((d) => !d.startsWith('flannel-v6.') && !d.endsWith('-v6'));
  const ordered = [...new Set(names)].sort();
  const devices = ordered.map((name) => ({
    name,
    reason: reasonFor(name, from, to),
    ...(state?.neigh?.[name] !== undefined ? { neigh: state.neigh[name] } : {}),
    ...(state?.fdb?.[name] !== undefined ? { fdb: state.fdb[name] } : {}),
  }));
  const routes = (state ? staleRoutes(network, state) : []).map((route) => ({ route, text: routeText(route) }));
  const xfrmFlush = from.type === 'ipsec';
  const actions: CleanupAction[] = [
    ...routes.map(({ route, text }) => ({ argv: routeDelArgv(route), summary: `delete route ${text}`, okIfMissing: true })),
    ...devices.map((d) => ({ argv: ['ip', 'link', 'del', d.name], summary: `delete device ${d.name} (${d.reason})`, okIfMissing: true })),
    ...(xfrmFlush
      ? [
          { argv: ['ip', 'xfrm', 'state', 'flush'], summary: 'flush xfrm states left by ipsec', okIfMissing: false },
          { argv: ['ip', 'xfrm', 'policy', 'flush'], summary: 'flush xfrm policies left by ipsec', okIfMissing: false },
        ]
      : []),
  ];
  return { devices, routes, xfrmFlush, actions };
}

/** stderr of iproute2 when the thing to delete is already gone. */
export function isMissingError(stderr: string): boolean {
  return /Cannot find device|No such process|No such device|does not exist|Object "?\w*"? is unknown/i.test(stderr);
}
