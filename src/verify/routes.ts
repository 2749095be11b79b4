/**
 * Routes flanneld programs per remote lease (FLANNEL.md §4 "Routes and neighbour entries"), how to
 * read a node's table (`ip -j -4 route show` or the plain text form of older iproute2), and the
 * comparison: one route per peer lease in the backend's form, none to a subnet without a lease.
 */
import type { Backend } from '../model/inventory.js';
import { cidrWithin, normaliseCidr } from '../model/cidr.js';
import { ipInCidr, parseCidr } from './addr.js';
import { deviceAddress } from './targets.js';

export interface Route {
  /** Normalised "a.b.c.d/n", or "default". */
  dst: string;
  gateway?: string;
  dev?: string;
  onlink: boolean;
  scope?: string;
  protocol?: string;
}

interface JsonRoute {
  dst?: string;
  gateway?: string;
  dev?: string;
  flags?: string[];
  scope?: string;
  protocol?: string;
  type?: string;
}

const normDst = (dst: string | undefined) => (!dst || dst === 'default' ? 'default' : normaliseCidr(dst));

/** `ip -j -4 route show` → routes (unicast only). */
export function parseJsonRoutes(text: string): Route[] {
  const t = text.trim();
  if (!t) return [];
  const arr = JSON.parse(t) as JsonRoute[];
  if (!Array.isArray(arr)) throw new Error('ip -j route: expected a JSON array');
  return arr
    .filter((r) => !r.type || r.type === 'unicast')
    .map((r) => ({
      dst: normDst(r.dst),
      gateway: r.gateway,
      dev: r.dev,
      onlink: (r.flags ?? []).includes('onlink'),
      scope: r.scope,
      protocol: r.protocol,
    }));
}

const ROUTE_TYPES = new Set(['unicast', 'local', 'broadcast', 'multicast', 'throw', 'unreachable', 'prohibit', 'blackhole', 'nat', 'anycast']);

/** `ip -4 route show` (text) → routes; for iproute2 without `-j`. */
export function parseTextRoutes(text: string): Route[] {
  const routes: Route[] = [];
  for (const line of text.split('\n')) {
    const words = line.trim().split(/\s+/).filter(Boolean);
    if (!words.length) continue;
    if (ROUTE_TYPES.has(words[0])) {
      if (words[0] !== 'unicast') continue;
      words.shift();
    }
    const r: Route = { dst: normDst(words[0]), onlink: false };
    for (let i = 1; i < words.length; i++) {
      const w = words[i];
      const v = words[i + 1];
      if (w === 'via') r.gateway = v;
      else if (w === 'dev') r.dev = v;
      else if (w === 'scope') r.scope = v;
      else if (w === 'proto') r.protocol = v;
      else if (w === 'onlink') r.onlink = true;
      else continue;
      if (w !== 'onlink') i++;
    }
    routes.push(r);
  }
  return routes;
}

/** Parse either form: JSON when it looks like JSON, else text. */
export function parseRoutes(text: string): Route[] {
  return text.trim().startsWith('[') ? parseJsonRoutes(text) : parseTextRoutes(text);
}

export function formatRoute(r: Pick<Route, 'dst' | 'gateway' | 'dev' | 'onlink'>): string {
  return [r.dst, r.gateway && `via ${r.gateway}`, r.dev && `dev ${r.dev}`, r.onlink && 'onlink'].filter(Boolean).join(' ');
}

/**
 * Is `ip` on a subnet directly connected to the node (flannel's DirectRouting "same L2" test)?
 * The longest-prefix match outside the flannel Network must be a route without a gateway.
 */
export function isDirectlyConnected(routes: Route[], ip: string, network?: string): boolean {
  let best: Route | undefined;
  let bestLen = -1;
  for (const r of routes) {
    if (r.dst === 'default') continue;
    if (network && cidrWithin(r.dst, network)) continue;
    const { len } = parseCidr(r.dst);
    if (len > bestLen && ipInCidr(ip, r.dst)) {
      best = r;
      bestLen = len;
    }
  }
  return best !== undefined && !best.gateway;
}

export interface PeerLease {
  /** Node name, or the public IP for a lease of a host not in the inventory. */
  name: string;
  subnet: string;
  publicIp: string;
}

export interface ExpectedRoute {
  dst: string;
  gateway?: string;
  /** undefined: any device is fine (DirectRouting vxlan adds the route without forcing a device). */
  dev?: string;
  onlink: boolean;
  /** Which peer lease it is for ("" for the one network-wide route of wireguard/udp). */
  peer: string;
}

/**
 * The routes flanneld adds on a node for its peers' leases.
 * `connected(ip)`: whether the peer's public IP is on a directly connected subnet (DirectRouting).
 */
export function expectedRoutes(
  backend: Backend,
  ctx: { iface: string; network: string; peers: PeerLease[]; connected: (ip: string) => boolean },
): ExpectedRoute[] {
  const { iface, peers } = ctx;
  switch (backend.type) {
    case 'vxlan': {
      const dev = `flannel.${backend.vni}`;
      return peers.map((p) =>
        backend.directRouting && ctx.connected(p.publicIp)
          ? { dst: p.subnet, gateway: p.publicIp, onlink: false, peer: p.name }
          : { dst: p.subnet, gateway: deviceAddress(p.subnet), dev, onlink: true, peer: p.name },
      );
    }
    case 'host-gw':
      return peers.map((p) => ({ dst: p.subnet, gateway: p.publicIp, dev: iface, onlink: false, peer: p.name }));
    case 'ipip':
      return peers.map((p) =>
        backend.directRouting && ctx.connected(p.publicIp)
          ? { dst: p.subnet, gateway: p.publicIp, dev: iface, onlink: false, peer: p.name }
          : { dst: p.subnet, gateway: p.publicIp, dev: 'flannel.ipip', onlink: true, peer: p.name },
      );
    case 'wireguard':
      return [{ dst: normaliseCidr(ctx.network), dev: 'flannel-wg', onlink: false, peer: '' }];
    case 'udp':
      return [{ dst: normaliseCidr(ctx.network), dev: 'flannel0', onlink: false, peer: '' }];
  }
}

export interface RouteProblems {
  missing: ExpectedRoute[];
  wrong: Array<{ expected: ExpectedRoute; actual: Route }>;
  /** Routes inside the Network to a subnet that has no lease. */
  stale: Route[];
}

function matches(e: ExpectedRoute, r: Route): boolean {
  return r.gateway === e.gateway && (e.dev === undefined || r.dev === e.dev) && (!e.onlink || r.onlink);
}

/** Compare a node's table with the expected routes. `leased`: every lease subnet in etcd (incl. the node's own). */
export function compareRoutes(expected: ExpectedRoute[], actual: Route[], ctx: { network: string; leased: string[] }): RouteProblems {
  const problems: RouteProblems = { missing: [], wrong: [], stale: [] };
  for (const e of expected) {
    const candidates = actual.filter((r) => r.dst === normaliseCidr(e.dst));
    if (!candidates.length) problems.missing.push(e);
    else if (!candidates.some((r) => matches(e, r))) problems.wrong.push({ expected: e, actual: candidates[0] });
  }
  const network = normaliseCidr(ctx.network);
  const leased = new Set(ctx.leased.map(normaliseCidr));
  for (const r of actual) {
    if (r.dst === 'default' || r.dst === network || !cidrWithin(r.dst, network)) continue;
    if (!leased.has(r.dst)) problems.stale.push(r);
  }
  return problems;
}

/** One line naming every problem, or undefined when there is none. */
export function describeRouteProblems(p: RouteProblems): string | undefined {
  const parts = [
    ...p.missing.map((e) => `missing ${formatRoute(e)}${e.peer ? ` (${e.peer})` : ''}`),
    ...p.wrong.map((w) => `wrong ${formatRoute(w.actual)}, expected ${formatRoute(w.expected)}${w.expected.peer ? ` (${w.expected.peer})` : ''}`),
    ...p.stale.map((r) => `stale ${formatRoute(r)} (no lease for ${r.dst})`),
  ];
  return parts.length ? parts.join('; ') : undefined;
}
