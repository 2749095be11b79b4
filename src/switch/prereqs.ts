/**
 * Prerequisites of the target backend, checked on the real nodes before anything changes:
 * host-gw / DirectRouting need L2 adjacency (l2.ts), vxlan and wireguard need their UDP port free,
 * wireguard and ipip need kernel support (a throw-away test device).
 */
import type { Connector } from '../connector/connector.js';
import type { Inventory, NodeSpec } from '../model/inventory.js';
import { mapLimit } from '../engine/parallel.js';
import { needsL2, type BackendDesc } from './backend-desc.js';
import { checkL2Adjacency, type L2NodeFacts } from './l2.js';
import { isFlannelDevice } from './cleanup.js';

export interface PrereqProblem {
  node: string;
  peer?: string;
  message: string;
}

export type GetConnector = (node: string) => Promise<Connector>;

/** UDP ports a listening socket holds, from `ss -Hlun` (local address is the 4th column). */
export function listeningUdpPorts(ssOutput: string): number[] {
  const ports: number[] = [];
  for (const line of ssOutput.split('\n')) {
    const cols = line.trim().split(/\s+/);
    const local = cols[3];
    const m = local && /:(\d+)$/.exec(local);
    if (m) ports.push(Number(m[1]));
  }
  return ports;
}

/** The UDP port the target needs, unless the current backend already holds it (its device goes away). */
function portToCheck(to: BackendDesc, from: BackendDesc): number | undefined {
  if (to.type !== 'vxlan' && to.type !== 'wireguard' && to.type !== 'udp') return undefined;
  if (to.port === undefined) return undefined;
  if (from.type === to.type && from.port === to.port) return undefined;
  return to.port;
}

const TEST_DEVICE: Record<string, string[] | undefined> = {
  wireguard: ['ip', 'link', 'add', 'flanctl-wgtest', 'type', 'wireguard'],
  ipip: ['ip', 'link', 'add', 'flanctl-iptest', 'type', 'ipip'],
};

async function kernelSupport(conn: Connector, node: string, type: string): Promise<PrereqProblem[]> {
  const add = TEST_DEVICE[type];
  if (!add) return [];
  const r = await conn.exec(add);
  if (r.code !== 0) {
    const why = (r.stderr || r.stdout).trim().split('\n')[0];
    return [{ node, message: `the kernel has no ${type} support (\`${add.join(' ')}\`: ${why})` }];
  }
  await conn.exec(['ip', 'link', 'del', add[3]]);
  return [];
}

/** Names of vxlan devices whose UDP port is `port`, from `ip -d -j link show type vxlan`. */
export function vxlanDevicesOnPort(linkJson: string, port: number): string[] {
  try {
    const links = JSON.parse(linkJson) as Array<{ ifname?: string; linkinfo?: { info_data?: { port?: number } } }>;
    return links.filter((l) => l.linkinfo?.info_data?.port === port && l.ifname).map((l) => l.ifname!);
  } catch {
    return [];
  }
}

/**
 * The port is free, or held only by a stale flannel vxlan device (a kernel socket: no process in
 * `ss -p`), which the cleanup deletes before flanneld starts — e.g. flannel.1 left by an earlier vxlan.
 */
async function portFree(conn: Connector, node: string, port: number): Promise<PrereqProblem[]> {
  const r = await conn.exec(['ss', '-Hlunp']);
  if (r.code !== 0) return [{ node, message: `cannot list UDP sockets (ss -Hlunp exited ${r.code})` }];
  const holders = r.stdout.split('\n').filter((line) => listeningUdpPorts(line).includes(port));
  if (!holders.length) return [];
  const processes = holders.map((l) => /users:\(\("([^"]+)"/.exec(l)?.[1]).filter((p): p is string => !!p);
  if (processes.length) return [{ node, message: `UDP port ${port} is already in use (by ${[...new Set(processes)].join(', ')})` }];
  const links = await conn.exec(['ip', '-d', '-j', 'link', 'show', 'type', 'vxlan']);
  const devices = links.code === 0 ? vxlanDevicesOnPort(links.stdout, port) : [];
  if (devices.length && devices.every(isFlannelDevice)) return [];
  const by = devices.length ? ` (by vxlan device ${devices.join(', ')})` : '';
  return [{ node, message: `UDP port ${port} is already in use${by}` }];
}

async function l2Facts(conn: Connector, n: NodeSpec): Promise<L2NodeFacts | PrereqProblem> {
  const addr = await conn.exec(['ip', '-j', 'addr', 'show', 'dev', n.iface]);
  if (addr.code !== 0) return { node: n.name, message: `interface ${n.iface} not found (${addr.stderr.trim()})` };
  const route = await conn.exec(['ip', '-j', 'route', 'show', 'table', 'main']);
  if (route.code !== 0) return { node: n.name, message: `cannot read routes (${route.stderr.trim()})` };
  return { name: n.name, publicIp: n.publicIp, iface: n.iface, addrJson: addr.stdout, routeJson: route.stdout };
}

/** Every problem that keeps `to` from working on these nodes; empty when the switch may go ahead. */
export async function checkPrereqs(
  inv: Inventory,
  from: BackendDesc,
  to: BackendDesc,
  get: GetConnector,
  concurrency: number,
): Promise<PrereqProblem[]> {
  const port = portToCheck(to, from);
  const perNode = await mapLimit(inv.nodes, concurrency, async (n) => {
    const conn = await get(n.name);
    const problems = [...(await kernelSupport(conn, n.name, to.type))];
    if (port !== undefined) problems.push(...(await portFree(conn, n.name, port)));
    const facts = needsL2(to) ? await l2Facts(conn, n) : undefined;
    return { problems, facts };
  });
  const problems: PrereqProblem[] = [];
  const facts: L2NodeFacts[] = [];
  perNode.forEach((r, i) => {
    if (!r.ok) {
      problems.push({ node: inv.nodes[i].name, message: `check failed: ${(r.error as Error).message ?? String(r.error)}` });
      return;
    }
    problems.push(...r.value.problems);
    if (r.value.facts && 'addrJson' in r.value.facts) facts.push(r.value.facts);
    else if (r.value.facts) problems.push(r.value.facts);
  });
  if (needsL2(to)) {
    const why = to.type === 'host-gw' ? 'host-gw' : `${to.type} DirectRouting`;
    for (const p of checkL2Adjacency(facts)) problems.push({ ...p, message: p.peer ? `${p.message} (${why} needs every node on one L2 segment)` : `${p.message} (${why})` });
  }
  return problems;
}

export function formatPrereqProblem(p: PrereqProblem): string {
  return `${p.peer ? `${p.node} → ${p.peer}` : p.node}: ${p.message}`;
}
