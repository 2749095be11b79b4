/**
 * After every node has started: each node must route every peer's subnet. flanneld v0.20.2 can miss
 * a peer that registered in the same instant (FLANNEL.md §9; fixed in v0.21.3), and restarting
 * flanneld on that node repairs it. Peers are the leases whose PublicIP is another inventory node's
 * and whose BackendType is the configured one. Backends with one route for the whole network
 * (udp, wireguard) have no per-peer route to check.
 */
import { FlanctlError } from '../errors.js';
import type { Inventory } from '../model/inventory.js';
import { type Lease } from '../model/leases.js';
import type { Step, StepContext } from '../engine/step.js';
import { restartFlanneld } from './service.js';
import { needKv, onNode, pollUntil } from './util.js';
import { listLeases } from '../kv/flannel-keys.js';

const PER_PEER_ROUTES = new Set(['vxlan', 'host-gw', 'ipip']);

/** Destinations of the node's IPv4 routes ("10.244.3.0/24"), from `ip -4 -o route show`. */
export function routeDestinations(stdout: string): Set<string> {
  const out = new Set<string>();
  for (const line of stdout.split('\n')) {
    const dest = line.trim().split(/\s+/)[0];
    if (dest) out.add(dest.includes('/') ? dest : `${dest}/32`);
  }
  return out;
}

export interface PeerRoutesOptions {
  /** How long to keep looking before calling a route missing (a just-started flanneld is still adding them). */
  settleMs: number;
  /** After a restart, how long to wait for the routes to appear. */
  repairTimeoutMs: number;
}

export function peerRoutesStep(inv: Inventory, opts: PeerRoutesOptions): Step {
  const id = 'routes:peers';
  const type = inv.network.backend.type;

  async function missingRoutes(ctx: StepContext): Promise<Lease[] | undefined> {
    const { node, conn } = onNode(ctx, id);
    const leases = await listLeases(needKv(ctx, id), inv.etcd.prefix);
    if (!leases.some((l) => l.publicIp === node.publicIp)) return undefined; // no own lease: lease-wait's job
    const peerIps = new Map(inv.nodes.filter((n) => n.name !== node.name).map((n) => [n.publicIp, n.name]));
    const peers = leases.filter((l) => peerIps.has(l.publicIp) && (l.backendType ?? 'udp') === type);
    const r = await conn.exec(['ip', '-4', '-o', 'route', 'show']);
    if (r.code !== 0) throw new FlanctlError(`${node.name}: ip route show exited ${r.code}: ${r.stderr.trim()}`);
    const have = routeDestinations(r.stdout);
    return peers.filter((l) => !have.has(l.subnet));
  }

  return {
    id,
    title: 'routes to peers',
    async check(ctx) {
      if (!PER_PEER_ROUTES.has(type)) return undefined;
      const { conn } = onNode(ctx, id);
      let missing = await missingRoutes(ctx);
      if (missing?.length && opts.settleMs > 0) {
        await pollUntil(async () => ((missing = await missingRoutes(ctx))?.length ? undefined : true), opts.settleMs);
      }
      if (!missing?.length) return undefined;
      const names = new Map(inv.nodes.map((n) => [n.publicIp, n.name]));
      const list = missing.map((l) => `${l.subnet} (${names.get(l.publicIp)})`).join(', ');
      return {
        action: 'restart',
        summary: `restart flanneld: no route to ${list}`,
        apply: async () => {
          await restartFlanneld(inv, conn);
          const ok = await pollUntil(async () => ((await missingRoutes(ctx))?.length === 0 ? true : undefined), opts.repairTimeoutMs);
          if (!ok) throw new FlanctlError(`${conn.name}: still no route to ${list} after restarting flanneld`);
        },
      };
    },
  };
}
