/**
 * Stale peer state (issue 13): what the kernel of one node holds for every peer, compared with that
 * peer's lease in etcd (FLANNEL.md §4 "Routes and neighbour entries per remote lease"):
 *  - vxlan: route `<subnet> via <subnet>.0 dev flannel.<VNI> onlink`, neighbour `<subnet>.0 lladdr
 *    <VtepMAC>` and FDB `<VtepMAC> dst <PublicIP>` on flannel.<VNI>;
 *  - vxlan + DirectRouting, peer on the same L2 segment: only `<subnet> via <PublicIP>`;
 *  - host-gw (and ipip): `<subnet> via <PublicIP>` (routes.ts expectedRoutes).
 * flanneld v0.20.2 can keep a peer's old VtepMAC or miss a peer altogether (FLANNEL.md §9); the
 * route alone cannot show the first. Pure apart from readVxlanTables.
 */
import type { Connector } from '../connector/connector.js';
import type { Backend, Inventory, NodeSpec } from '../model/inventory.js';
import type { Lease } from '../model/leases.js';
import { normaliseCidr } from '../model/cidr.js';
import { expectedRoutes, formatRoute, isDirectlyConnected, type ExpectedRoute, type Route } from './routes.js';
import { deviceAddress } from './targets.js';

export interface Neighbour { dst: string; lladdr?: string; state: string[] }
export interface FdbEntry { mac: string; dst?: string }

export interface PeerMismatch {
  node: string;
  /** The peer's node name (or its PublicIP when it is not in the inventory). */
  peer: string;
  subnet: string;
  item: 'route' | 'neighbour' | 'fdb';
  /** What the node's kernel holds ("none" when nothing). */
  kernel: string;
  /** What the peer's lease says it should hold. */
  lease: string;
}

const lower = (s: string | undefined) => s?.toLowerCase();

export function parseNeighbours(text: string): Neighbour[] {
  const t = text.trim();
  if (!t) return [];
  const arr = JSON.parse(t) as Array<{ dst: string; lladdr?: string; state?: string[] }>;
  return arr.map((n) => ({ dst: n.dst, lladdr: lower(n.lladdr), state: n.state ?? [] }));
}

export function parseFdb(text: string): FdbEntry[] {
  const t = text.trim();
  if (!t) return [];
  const arr = JSON.parse(t) as Array<{ mac: string; dst?: string }>;
  return arr.map((f) => ({ mac: lower(f.mac)!, dst: f.dst }));
}

const SEP = '@@flanctl-fdb';

/** Neighbour and FDB entries of the vxlan device in one command (read alongside verify's other facts). */
export const vxlanTablesArgv = (dev: string) => ['sh', '-c', `ip -j -4 neigh show dev "$1" || exit $?; echo ${SEP}; bridge -j fdb show dev "$1"`, 'sh', dev];

export async function readVxlanTables(conn: Connector, dev: string): Promise<{ neigh: Neighbour[]; fdb: FdbEntry[] }> {
  const r = await conn.exec(vxlanTablesArgv(dev));
  if (r.code !== 0) throw new Error(`ip neigh / bridge fdb show dev ${dev}: ${(r.stderr || r.stdout).trim().split('\n').pop() || `exit ${r.code}`}`);
  const [neigh, fdb = ''] = r.stdout.split(SEP);
  return { neigh: parseNeighbours(neigh), fdb: parseFdb(fdb) };
}

export interface PeerStateInput {
  backend: Backend;
  node: string;
  iface: string;
  network: string;
  /** The peers' leases (not the node's own). */
  peers: Array<{ name: string; lease: Lease }>;
  routes: Route[];
  neigh?: Neighbour[];
  fdb?: FdbEntry[];
}

function routeMatches(e: ExpectedRoute, r: Route): boolean {
  return r.gateway === e.gateway && (e.dev === undefined || r.dev === e.dev) && (!e.onlink || r.onlink);
}

/** Every place where the node's kernel disagrees with a peer's lease; [] when in step. */
export function peerStateMismatches(i: PeerStateInput): PeerMismatch[] {
  const { backend } = i;
  if (backend.type !== 'vxlan' && backend.type !== 'host-gw' && backend.type !== 'ipip') return [];
  const peers = i.peers.filter((p) => (p.lease.backendType ?? 'udp') === backend.type);
  const connected = (ip: string) => isDirectlyConnected(i.routes, ip, i.network);
  const expected = expectedRoutes(backend, {
    iface: i.iface,
    network: i.network,
    peers: peers.map((p) => ({ name: p.name, subnet: p.lease.subnet, publicIp: p.lease.publicIp })),
    connected,
  });
  const out: PeerMismatch[] = [];
  peers.forEach((p, k) => {
    const e = expected[k];
    const base = { node: i.node, peer: p.name, subnet: p.lease.subnet };
    const dst = normaliseCidr(e.dst);
    const have = i.routes.filter((r) => r.dst === dst);
    if (!have.some((r) => routeMatches(e, r))) {
      out.push({ ...base, item: 'route', kernel: have.length ? formatRoute(have[0]) : 'no route', lease: formatRoute(e) });
    }
    if (backend.type !== 'vxlan' || !e.onlink) return; // DirectRouting to this peer: a route only
    const mac = lower(p.lease.backendData?.VtepMAC);
    if (!mac) return; // nothing to compare with (flanneld itself skips such a lease)
    const gw = deviceAddress(p.lease.subnet);
    const dev = `flannel.${backend.vni}`;
    if (i.neigh) {
      const n = i.neigh.find((x) => x.dst === gw);
      if (n?.lladdr !== mac) {
        out.push({ ...base, item: 'neighbour', kernel: n ? `${gw} lladdr ${n.lladdr ?? '(none)'}` : `no neighbour ${gw} on ${dev}`, lease: `${gw} lladdr ${mac}` });
      }
    }
    if (i.fdb && !i.fdb.some((f) => f.mac === mac && f.dst === p.lease.publicIp)) {
      const other = i.fdb.filter((f) => f.dst === p.lease.publicIp && f.mac !== '00:00:00:00:00:00');
      out.push({
        ...base,
        item: 'fdb',
        kernel: other.length ? other.map((f) => `${f.mac} dst ${f.dst}`).join(', ') : `no FDB entry for ${p.lease.publicIp} on ${dev}`,
        lease: `${mac} dst ${p.lease.publicIp}`,
      });
    }
  });
  return out;
}

/** The input for one node from verify's facts and every lease in etcd. */
export function peerStateOf(inv: Inventory, node: NodeSpec, facts: { routes: Route[]; neigh?: Neighbour[]; fdb?: FdbEntry[] }, leases: Lease[]): PeerMismatch[] {
  const byIp = new Map(inv.nodes.map((n) => [n.publicIp, n.name]));
  return peerStateMismatches({
    backend: inv.network.backend,
    node: node.name,
    iface: node.iface,
    network: inv.network.cidr,
    peers: leases.filter((l) => l.publicIp !== node.publicIp).map((lease) => ({ name: byIp.get(lease.publicIp) ?? lease.publicIp, lease })),
    routes: facts.routes,
    neigh: facts.neigh,
    fdb: facts.fdb,
  });
}

/** "node2 (10.244.2.0/24) neighbour: kernel 10.244.2.0 lladdr aa:…, lease says 10.244.2.0 lladdr bb:…". */
export function describeMismatch(m: PeerMismatch): string {
  return `${m.peer} (${m.subnet}) ${m.item}: kernel has ${m.kernel}, lease says ${m.lease}`;
}

/** The peers a node holds stale or missing state for, in order, once each. */
export function stalePeers(ms: PeerMismatch[]): string[] {
  return [...new Set(ms.map((m) => m.peer))];
}
