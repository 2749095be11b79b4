/**
 * The switch plan shown before anything changes: per node the devices, neighbour/FDB entries and
 * routes that go, the ipsec xfrm flush, and the `<prefix>/config` diff. observeNode() reads a node;
 * everything else here is pure.
 */
import type { Connector } from '../connector/connector.js';
import { backendLabel, type BackendDesc } from './backend-desc.js';
import { cleanupPlan, isFlannelDevice, type CleanupPlan, type NodeNetState } from './cleanup.js';
import { lineDiff, prettyJson, redactConfigText } from '../model/flannel-config.js';
import { parseLinks, parseRoutes } from './iproute.js';

export interface NodePlan {
  node: string;
  cleanup: CleanupPlan;
}

export interface SwitchPlan {
  from: BackendDesc;
  to: BackendDesc;
  config: { before: string; after: string };
  nodes: NodePlan[];
}

async function jsonCount(conn: Connector, argv: string[]): Promise<number | undefined> {
  const r = await conn.exec(argv);
  if (r.code !== 0) return undefined;
  try {
    const v = JSON.parse(r.stdout.trim() || '[]') as unknown;
    return Array.isArray(v) ? v.length : undefined;
  } catch {
    return undefined;
  }
}

/** Links, IPv4 main-table routes and per-flannel-device neighbour/FDB counts of one node. */
export async function observeNode(conn: Connector, ownSubnet: string | undefined, withCounts = true): Promise<NodeNetState> {
  const links = await conn.exec(['ip', '-j', 'link', 'show']);
  if (links.code !== 0) throw new Error(`${conn.name}: ip -j link show exited ${links.code}: ${links.stderr.trim()}`);
  const routes = await conn.exec(['ip', '-4', '-j', 'route', 'show', 'table', 'main']);
  if (routes.code !== 0) throw new Error(`${conn.name}: ip -j route show exited ${routes.code}: ${routes.stderr.trim()}`);
  const state: NodeNetState = {
    links: parseLinks(links.stdout).map((l) => l.ifname),
    routes: parseRoutes(routes.stdout),
    ownSubnet,
  };
  if (withCounts) {
    state.neigh = {};
    state.fdb = {};
    for (const dev of state.links.filter(isFlannelDevice)) {
      const n = await jsonCount(conn, ['ip', '-j', 'neigh', 'show', 'dev', dev]);
      if (n !== undefined) state.neigh[dev] = n;
      if (dev.startsWith('flannel.') || dev.startsWith('flannel-v6.')) {
        const f = await jsonCount(conn, ['bridge', '-j', 'fdb', 'show', 'dev', dev]);
        if (f !== undefined) state.fdb[dev] = f;
      }
    }
  }
  return state;
}

export function buildPlan(
  from: BackendDesc,
  to: BackendDesc,
  network: string,
  config: { before: string; after: string },
  states: Array<{ node: string; state?: NodeNetState }>,
): SwitchPlan {
  return { from, to, config: { before: redactConfig(config.before), after: redactConfig(config.after) }, nodes: states.map(({ node, state }) => ({ node, cleanup: cleanupPlan(from, to, network, state) })) };
}

/** The config text with secrets (wireguard PSK) replaced, for plans, reports and messages. */
export const redactConfig = (text: string): string => redactConfigText(text);

/** Human lines for the plan. */
export function renderPlan(plan: SwitchPlan): string[] {
  const lines = [`switch-backend: ${backendLabel(plan.from)} → ${backendLabel(plan.to)} on ${plan.nodes.length} node(s)`, ''];
  lines.push('Sequence: stop flanneld on every node · remove the old backend state · write the config · start every node ·');
  lines.push('          wait for every lease to show the new backend · verify. The pod network is down in between;');
  lines.push('          on any failure the previous backend is restored the same way.', '');
  for (const { node, cleanup } of plan.nodes) {
    const { devices, routes, xfrmFlush } = cleanup;
    if (!devices.length && !routes.length && !xfrmFlush) {
      lines.push(`${node}: nothing of the old backend to remove`);
      continue;
    }
    lines.push(`${node}:`);
    for (const d of devices) {
      const entries = [d.neigh !== undefined && `${d.neigh} neighbour`, d.fdb !== undefined && `${d.fdb} FDB`].filter(Boolean).join(', ');
      lines.push(`  - device ${d.name}${entries ? ` (with ${entries} entries)` : ''}: ${d.reason}`);
    }
    for (const r of routes) lines.push(`  - route ${r.text}`);
    if (xfrmFlush) lines.push('  - xfrm states and policies (ipsec)');
  }
  lines.push('', 'iptables: unchanged (flannel\'s rules depend only on the network and the subnet)', '');
  lines.push(`etcd config:`);
  for (const l of lineDiff(prettyJson(plan.config.before), prettyJson(plan.config.after))) lines.push(`  ${l}`);
  return lines;
}
