/**
 * Per-node health checks judged from facts already read (facts.ts) and the leases in etcd:
 * subnet.env, the node's lease, the flannel device (vxlan), peer state (route, neighbour, FDB per peer
 * lease: peer-state.ts), routes without a lease. Each returns {node, name, ok, detail}.
 * Checks that need their own remote command (service, iptables, healthz, cert) are in remote-checks.ts.
 */
import type { Backend, Inventory, NodeSpec } from '../model/inventory.js';
import type { Lease } from '../model/leases.js';
import { normaliseCidr } from '../model/cidr.js';
import { parseCidr } from './addr.js';
import type { NodeFacts } from './facts.js';
import { compareRoutes, describeRouteProblems, expectedRoutes, isDirectlyConnected } from './routes.js';
import { describeMismatch, peerStateOf, stalePeers, type PeerMismatch } from './peer-state.js';
import { bridgeAddress, deviceAddress } from './targets.js';

export interface Check {
  node: string;
  name: string;
  ok: boolean;
  /** One line: why it failed, or what was found. */
  detail: string;
  /** true when the check could not be made here (e.g. no HTTP client on the node); ok stays true. */
  skipped?: boolean;
  /** The 'peers' check: every peer whose state in the kernel disagrees with its lease. */
  peers?: PeerMismatch[];
}

export interface NodeContext {
  inv: Inventory;
  node: NodeSpec;
  facts: NodeFacts;
  /** Every lease in etcd. */
  leases: Lease[];
}

export const pass = (node: string, name: string, detail: string): Check => ({ node, name, ok: true, detail });
export const fail = (node: string, name: string, detail: string): Check => ({ node, name, ok: false, detail });

/** The node's own lease: the one whose PublicIP is the node's public IP (the first, when several). */
export function ownLease(leases: Lease[], node: NodeSpec): Lease | undefined {
  return leases.find((l) => l.publicIp === node.publicIp);
}

/** FLANNEL_MTU per backend (FLANNEL.md §4 "MTU reported in FLANNEL_MTU"). */
export function expectedMtu(backend: Backend, ifaceMtu: number): number {
  switch (backend.type) {
    case 'vxlan': return (backend.mtu ?? ifaceMtu) - 50;
    case 'host-gw': return ifaceMtu;
    case 'ipip': return ifaceMtu - 20;
    case 'udp': return ifaceMtu - 28;
    case 'wireguard': return (backend.mtu ?? ifaceMtu) - 80;
  }
}

/** The flannel device a backend creates (none for host-gw). */
export function flannelDevice(backend: Backend): string | undefined {
  switch (backend.type) {
    case 'vxlan': return `flannel.${backend.vni}`;
    case 'ipip': return 'flannel.ipip';
    case 'wireguard': return 'flannel-wg';
    case 'udp': return 'flannel0';
    case 'host-gw': return undefined;
  }
}

export function formatTtl(seconds: number | undefined): string {
  if (seconds === undefined) return 'no expiry (reservation)';
  if (seconds < 0) return 'expired';
  const h = Math.floor(seconds / 3600);
  const m = Math.floor((seconds % 3600) / 60);
  return h ? `${h}h${String(m).padStart(2, '0')}m` : `${m}m${String(Math.floor(seconds % 60)).padStart(2, '0')}s`;
}

export function checkLease(ctx: NodeContext): Check {
  const { node, inv, leases } = ctx;
  const mine = leases.filter((l) => l.publicIp === node.publicIp);
  if (!mine.length) return fail(node.name, 'lease', `no lease in etcd with PublicIP ${node.publicIp}`);
  if (mine.length > 1) return fail(node.name, 'lease', `${mine.length} leases with PublicIP ${node.publicIp}: ${mine.map((l) => l.subnet).join(', ')}`);
  const l = mine[0];
  const want = inv.network.backend.type;
  if (l.backendType !== want && !(want === 'udp' && l.backendType === undefined)) {
    return fail(node.name, 'lease', `${l.subnet}: BackendType ${l.backendType ?? '(none)'}, inventory says ${want}`);
  }
  const backend = inv.network.backend;
  if (backend.type === 'vxlan' && l.backendData?.VNI !== undefined && l.backendData.VNI !== backend.vni) {
    return fail(node.name, 'lease', `${l.subnet}: VNI ${l.backendData.VNI}, inventory says ${backend.vni}`);
  }
  return pass(node.name, 'lease', `${l.subnet}, ${l.backendType ?? 'no BackendType'}, ${formatTtl(l.ttl)} left`);
}

export function checkSubnetEnv(ctx: NodeContext): Check {
  const { node, inv, facts } = ctx;
  const name = 'subnet.env';
  if (facts.errors.subnetEnv) return fail(node.name, name, `cannot read ${inv.flannel.subnetFile}: ${facts.errors.subnetEnv}`);
  const env = facts.subnetEnv;
  if (!env) return fail(node.name, name, `${inv.flannel.subnetFile} not found`);
  const lease = ownLease(ctx.leases, node);
  if (!lease) return fail(node.name, name, `FLANNEL_SUBNET=${env.FLANNEL_SUBNET ?? '(unset)'} but the node has no lease`);
  const wantSubnet = `${bridgeAddress(lease.subnet)}/${parseCidr(lease.subnet).len}`;
  const problems: string[] = [];
  if (env.FLANNEL_SUBNET !== wantSubnet) problems.push(`FLANNEL_SUBNET=${env.FLANNEL_SUBNET ?? '(unset)'}, lease says ${wantSubnet}`);
  const net = env.FLANNEL_NETWORK;
  if (!net || normaliseCidr(net) !== normaliseCidr(inv.network.cidr)) problems.push(`FLANNEL_NETWORK=${net ?? '(unset)'}, inventory says ${inv.network.cidr}`);
  const iface = facts.links.find((l) => l.name === node.iface);
  if (iface && env.FLANNEL_MTU !== undefined) {
    const want = expectedMtu(inv.network.backend, iface.mtu);
    if (Number(env.FLANNEL_MTU) !== want) problems.push(`FLANNEL_MTU=${env.FLANNEL_MTU}, expected ${want}`);
  }
  return problems.length ? fail(node.name, name, problems.join('; ')) : pass(node.name, name, `FLANNEL_SUBNET=${wantSubnet}`);
}

/** flannel.<VNI>: vxlan with the VNI, port, MTU (iface − 50), the lease's .0/32 and the lease's VtepMAC. */
export function checkVxlanDevice(ctx: NodeContext): Check | undefined {
  const { node, inv, facts } = ctx;
  const backend = inv.network.backend;
  if (backend.type !== 'vxlan') return undefined;
  const name = `flannel.${backend.vni}`;
  if (facts.errors.links) return fail(node.name, name, `cannot read links: ${facts.errors.links}`);
  const dev = facts.links.find((l) => l.name === name);
  if (!dev) return fail(node.name, name, `${name} not found`);
  const problems: string[] = [];
  if (dev.kind !== 'vxlan') problems.push(`type ${dev.kind ?? 'unknown'}, expected vxlan`);
  if (dev.vxlan?.id !== undefined && dev.vxlan.id !== backend.vni) problems.push(`VNI ${dev.vxlan.id}, expected ${backend.vni}`);
  const wantPort = backend.port || 8472;
  if (dev.vxlan?.port !== undefined && dev.vxlan.port !== wantPort) problems.push(`port ${dev.vxlan.port}, expected ${wantPort}`);
  const iface = facts.links.find((l) => l.name === node.iface);
  if (!iface) problems.push(`interface ${node.iface} not found (nodes[].iface)`);
  else if (dev.mtu !== expectedMtu(backend, iface.mtu)) problems.push(`MTU ${dev.mtu}, expected ${expectedMtu(backend, iface.mtu)} (${node.iface} ${iface.mtu} − 50)`);
  if (!dev.up) problems.push('link is down');
  const lease = ownLease(ctx.leases, node);
  if (lease) {
    const addr = deviceAddress(lease.subnet);
    if (!dev.addrs.some((a) => a.ip === addr)) problems.push(`address ${addr}/32 missing (has ${dev.addrs.map((a) => `${a.ip}/${a.prefixLen}`).join(', ') || 'none'})`);
    const mac = lease.backendData?.VtepMAC;
    if (mac && dev.mac && mac.toLowerCase() !== dev.mac.toLowerCase()) problems.push(`MAC ${dev.mac}, lease VtepMAC ${mac}`);
  }
  if (problems.length) return fail(node.name, name, problems.join('; '));
  return pass(node.name, name, `vxlan id ${backend.vni} port ${wantPort} mtu ${dev.mtu}`);
}

/**
 * For every peer lease: the node's kernel holds what the lease says (vxlan: route, neighbour, FDB;
 * DirectRouting / host-gw / ipip: the route). Names node, peer, the kernel's entry and the lease's.
 */
export function checkPeerState(ctx: NodeContext): Check | undefined {
  const { node, inv, facts, leases } = ctx;
  const type = inv.network.backend.type;
  if (type !== 'vxlan' && type !== 'host-gw' && type !== 'ipip') return undefined;
  const name = 'peers';
  if (facts.errors.routes) return fail(node.name, name, `cannot read routes: ${facts.errors.routes}`);
  if (facts.errors.vxlan) return fail(node.name, name, `cannot read neighbour/FDB entries: ${facts.errors.vxlan}`);
  const ms = peerStateOf(inv, node, facts, leases);
  const peers = leases.filter((l) => l.publicIp !== node.publicIp && (l.backendType ?? 'udp') === type).length;
  if (!ms.length) return pass(node.name, name, `${peers} peer${peers === 1 ? '' : 's'} in step with their leases`);
  return { ...fail(node.name, name, `stale or missing state for ${stalePeers(ms).join(', ')}: ${ms.map(describeMismatch).join('; ')}`), peers: ms };
}

/**
 * No route inside the Network to a subnet without a lease; for backends with one route for the whole
 * Network (wireguard, udp) that route. Per-peer routes are the 'peers' check's.
 */
export function checkRoutes(ctx: NodeContext): Check {
  const { node, inv, facts, leases } = ctx;
  if (facts.errors.routes) return fail(node.name, 'routes', `cannot read routes: ${facts.errors.routes}`);
  const byIp = new Map(inv.nodes.map((n) => [n.publicIp, n.name]));
  const peers = leases
    .filter((l) => l.publicIp !== node.publicIp)
    .map((l) => ({ name: byIp.get(l.publicIp) ?? l.publicIp, subnet: l.subnet, publicIp: l.publicIp }));
  const expected = expectedRoutes(inv.network.backend, {
    iface: node.iface,
    network: inv.network.cidr,
    peers,
    connected: (ip) => isDirectlyConnected(facts.routes, ip, inv.network.cidr),
  }).filter((e) => e.peer === '');
  const problems = compareRoutes(expected, facts.routes, { network: inv.network.cidr, leased: leases.map((l) => l.subnet) });
  const text = describeRouteProblems(problems);
  if (text) return fail(node.name, 'routes', text);
  return pass(node.name, 'routes', expected.length ? `${expected.length} route as expected` : 'no route to a subnet without a lease');
}

/** The checks that need nothing but facts and leases, in report order. */
export function localChecks(ctx: NodeContext): Check[] {
  return [checkSubnetEnv(ctx), checkLease(ctx), checkVxlanDevice(ctx), checkPeerState(ctx), checkRoutes(ctx)].filter((c): c is Check => c !== undefined);
}
