/**
 * The bits of iproute2's JSON output (`ip -j link|addr|route`) that switch-backend and reset read. Pure.
 * Prefix arithmetic is src/cidr.ts's.
 */
import { ipInCidr, parsePrefix } from '../model/cidr.js';

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

/** Longest-prefix-match of `ip` in a main-table route list (unicast routes only). */
export function lookupRoute(routes: IpRoute[], ip: string): IpRoute | undefined {
  let best: IpRoute | undefined;
  let bestLen = -1;
  for (const r of routes) {
    if (r.type && r.type !== 'unicast') continue;
    const p = r.dst === 'default' ? undefined : parsePrefix(r.dst);
    const len = r.dst === 'default' ? 0 : p?.prefix;
    if (len === undefined) continue;
    if (p && !ipInCidr(ip, `${p.network}/${p.prefix}`)) continue;
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
