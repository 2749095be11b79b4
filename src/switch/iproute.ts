/**
 * The bits of iproute2's JSON output (`ip -j link|addr|route`) that switch-backend and reset read,
 * plus the IPv4 prefix arithmetic they need. Pure.
 */
import ipaddr from 'ipaddr.js';

export interface IpRoute {
  /** "10.244.3.0/24", "10.77.1.12" (a /32) or "default" */
  dst: string;
  gateway?: string;
  dev?: string;
  protocol?: string;
  scope?: string;
  prefsrc?: string;
  flags?: string[];
  type?: string;
}

export interface IpAddrInfo {
  family: string;
  local: string;
  prefixlen: number;
}

export interface IpLink {
  ifname: string;
  addr_info?: IpAddrInfo[];
  linkinfo?: { info_kind?: string };
}

function parseJsonArray<T>(text: string, what: string): T[] {
  const trimmed = text.trim();
  if (!trimmed) return [];
  const v = JSON.parse(trimmed) as unknown;
  if (!Array.isArray(v)) throw new Error(`${what}: expected a JSON array from iproute2`);
  return v as T[];
}

export const parseRoutes = (text: string) => parseJsonArray<IpRoute>(text, 'ip -j route');
export const parseLinks = (text: string) => parseJsonArray<IpLink>(text, 'ip -j link');

export function isIpv4(ip: string): boolean {
  return ipaddr.IPv4.isValidFourPartDecimal(ip);
}

/** [network address, prefix length] of "a.b.c.d/n" or a bare address (/32); undefined for "default" or IPv6. */
export function parsePrefix(cidr: string): [string, number] | undefined {
  const [ip, len] = cidr.split('/');
  if (!isIpv4(ip)) return undefined;
  const n = len === undefined ? 32 : Number(len);
  if (!Number.isInteger(n) || n < 0 || n > 32) return undefined;
  const net = ipaddr.IPv4.networkAddressFromCIDR(`${ip}/${n}`).toString();
  return [net, n];
}

export function ipInCidr(ip: string, cidr: string): boolean {
  const p = parsePrefix(cidr);
  if (!p || !isIpv4(ip)) return false;
  return ipaddr.IPv4.parse(ip).match(ipaddr.IPv4.parse(p[0]), p[1]);
}

/** true when the prefix `inner` lies entirely inside `outer` (equal counts). */
export function prefixWithin(inner: string, outer: string): boolean {
  const i = parsePrefix(inner);
  const o = parsePrefix(outer);
  if (!i || !o) return false;
  return i[1] >= o[1] && ipInCidr(i[0], outer);
}

/** "10.244.3.7/24" → "10.244.3.0/24" */
export function normalizePrefix(cidr: string): string {
  const p = parsePrefix(cidr);
  return p ? `${p[0]}/${p[1]}` : cidr;
}

/** Longest-prefix-match of `ip` in a main-table route list (unicast routes only). */
export function lookupRoute(routes: IpRoute[], ip: string): IpRoute | undefined {
  let best: IpRoute | undefined;
  let bestLen = -1;
  for (const r of routes) {
    if (r.type && r.type !== 'unicast') continue;
    const len = r.dst === 'default' ? 0 : parsePrefix(r.dst)?.[1];
    if (len === undefined) continue;
    if (r.dst !== 'default' && !ipInCidr(ip, r.dst)) continue;
    if (len > bestLen) {
      best = r;
      bestLen = len;
    }
  }
  return best;
}

/** The argv that deletes exactly this route. */
export function routeDelArgv(r: IpRoute): string[] {
  return ['ip', 'route', 'del', r.dst, ...(r.gateway ? ['via', r.gateway] : []), ...(r.dev ? ['dev', r.dev] : [])];
}

/** "10.244.3.0/24 via 10.77.1.13 dev eth0" */
export function routeText(r: IpRoute): string {
  return [r.dst, r.gateway && `via ${r.gateway}`, r.dev && `dev ${r.dev}`, r.protocol && r.protocol !== 'boot' && `proto ${r.protocol}`]
    .filter(Boolean)
    .join(' ');
}
