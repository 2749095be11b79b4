/**
 * L2 adjacency rules for host-gw and DirectRouting (FLANNEL.md §2, §4): a node routes a peer's
 * subnet straight `via <peer public IP> dev <iface>`, so every peer's public IP must lie inside a
 * network connected to the node's iface with no gateway in between, and host-gw refuses to start
 * when the public IP is not the iface's own address ("probably you're on a NAT"). Pure: reads the
 * output of `ip -j addr show dev <iface>` and `ip -j route show table main` of each node.
 */
import { ipInCidr } from '../model/cidr.js';
import { lookupRoute, parseLinks, parseRoutes, type IpRoute } from './iproute.js';

export interface L2NodeFacts {
  name: string;
  publicIp: string;
  iface: string;
  /** `ip -j addr show dev <iface>` */
  addrJson: string;
  /** `ip -j route show table main` */
  routeJson: string;
}

export interface L2Problem {
  node: string;
  peer?: string;
  message: string;
}

interface Parsed {
  name: string;
  publicIp: string;
  iface: string;
  /** IPv4 "local/prefixlen" of the iface */
  addrs: string[];
  routes: IpRoute[];
}

function parse(f: L2NodeFacts): Parsed | L2Problem {
  try {
    const links = parseLinks(f.addrJson);
    const link = links.find((l) => l.ifname === f.iface) ?? links[0];
    if (!link) return { node: f.name, message: `interface ${f.iface} not found` };
    const addrs = (link.addr_info ?? []).filter((a) => a.family === 'inet').map((a) => `${a.local}/${a.prefixlen}`);
    return { name: f.name, publicIp: f.publicIp, iface: f.iface, addrs, routes: parseRoutes(f.routeJson) };
  } catch (e) {
    return { node: f.name, message: `cannot read iproute2 output: ${(e as Error).message}` };
  }
}

/** Problems for one node on its own: its public IP must be an address of its iface. */
function checkOwnAddress(n: Parsed): L2Problem[] {
  if (!n.addrs.length) return [{ node: n.name, message: `interface ${n.iface} has no IPv4 address` }];
  if (!n.addrs.some((a) => a.split('/')[0] === n.publicIp)) {
    return [{
      node: n.name,
      message: `public IP ${n.publicIp} is not an address of ${n.iface} (it has ${n.addrs.join(', ')}); host-gw refuses to start behind NAT`,
    }];
  }
  return [];
}

/** Problems for the directed pair node → peer: the peer must be directly reachable on node's iface. */
function checkPair(n: Parsed, peer: Parsed): L2Problem[] {
  const ip = peer.publicIp;
  const onLink = n.addrs.some((a) => ipInCidr(ip, a));
  if (!onLink) {
    return [{ node: n.name, peer: peer.name, message: `${peer.name}'s public IP ${ip} is not inside a network of ${n.name}'s ${n.iface} (${n.addrs.join(', ') || 'no address'})` }];
  }
  const route = lookupRoute(n.routes, ip);
  if (route && route.gateway) {
    return [{ node: n.name, peer: peer.name, message: `${n.name} reaches ${peer.name} (${ip}) through gateway ${route.gateway} (route ${route.dst}), not directly` }];
  }
  if (route && route.dev && route.dev !== n.iface) {
    return [{ node: n.name, peer: peer.name, message: `${n.name} reaches ${peer.name} (${ip}) through ${route.dev}, not ${n.iface}` }];
  }
  return [];
}

/** Every problem that keeps the nodes from being one L2 segment; empty when they are. */
export function checkL2Adjacency(facts: L2NodeFacts[]): L2Problem[] {
  const problems: L2Problem[] = [];
  const parsed: Parsed[] = [];
  for (const f of facts) {
    const p = parse(f);
    if ('message' in p) problems.push(p);
    else parsed.push(p);
  }
  for (const n of parsed) problems.push(...checkOwnAddress(n));
  for (const n of parsed) for (const peer of parsed) if (peer !== n) problems.push(...checkPair(n, peer));
  return problems;
}

export function formatL2Problem(p: L2Problem): string {
  return `${p.peer ? `${p.node} → ${p.peer}` : p.node}: ${p.message}`;
}
