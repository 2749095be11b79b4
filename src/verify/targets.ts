/**
 * Which address to ping on each peer (FLANNEL.md §4 "Pinging flannel.1 addresses"):
 * vxlan, ipip, wireguard, udp → the peer lease's `.0` on its flannel device;
 * host-gw (no flannel device) → the peer's FLANNEL_SUBNET `.1` on its bridge (docker0/cni0), or on a
 * temporary `flanctl-probe` interface with --probe when no interface holds it.
 */
import type { BackendType } from '../model/inventory.js';
import { hostAddress } from './addr.js';

export const PROBE_IFACE = 'flanctl-probe';
export const NO_TARGET_HINT = 'rerun with --probe to add a temporary flanctl-probe interface holding it';

/** The address flanneld puts on the flannel device for a lease ("10.5.3.0/24" → "10.5.3.0"). */
export const deviceAddress = (subnet: string) => hostAddress(subnet, 0);
/** FLANNEL_SUBNET's address, meant for the docker0/cni0 bridge ("10.5.3.0/24" → "10.5.3.1"). */
export const bridgeAddress = (subnet: string) => hostAddress(subnet, 1);

/** Backends that put the lease's .0 on a flannel device. */
export const hasFlannelDevice = (type: BackendType) => type !== 'host-gw';

/** The overlay address to ping on a peer whose lease is `subnet`. */
export function overlayTarget(type: BackendType, subnet: string): string {
  return hasFlannelDevice(type) ? deviceAddress(subnet) : bridgeAddress(subnet);
}

export interface TargetNode {
  name: string;
  /** The node's lease subnet, undefined when it has none in etcd. */
  subnet?: string;
  /** The interface holding the node's `.1` (host-gw), if any; the probe interface itself never counts. */
  bridge?: string;
}

export interface PlannedPair {
  from: string;
  to: string;
  /** Address pinged from `from`; undefined when there is nothing to ping. */
  target?: string;
  /** Why there is no target. */
  reason?: string;
}

export interface PlannedProbe {
  node: string;
  address: string;
}

export interface TargetPlan {
  pairs: PlannedPair[];
  /** host-gw with --probe: nodes that need a temporary flanctl-probe interface holding `address`. */
  probes: PlannedProbe[];
  /** Per node: the source address for its pings (`ping -I`), host-gw only. */
  sources: Map<string, string>;
}

/** Every ordered pair of distinct nodes, with what to ping and the probe interfaces needed. */
export function planTargets(type: BackendType, nodes: TargetNode[], opts: { probe: boolean }): TargetPlan {
  const probes: PlannedProbe[] = [];
  const sources = new Map<string, string>();
  /** Per node: the address peers can ping, or why there is none. */
  const reachable = new Map<string, { target?: string; reason?: string }>();
  for (const n of nodes) {
    if (!n.subnet) {
      reachable.set(n.name, { reason: `${n.name} has no lease in etcd` });
      continue;
    }
    const target = overlayTarget(type, n.subnet);
    if (hasFlannelDevice(type)) {
      reachable.set(n.name, { target });
    } else if (n.bridge) {
      reachable.set(n.name, { target });
      sources.set(n.name, target);
    } else if (opts.probe) {
      probes.push({ node: n.name, address: target });
      reachable.set(n.name, { target });
      sources.set(n.name, target);
    } else {
      reachable.set(n.name, { reason: `no target: no interface on ${n.name} holds ${target} (host-gw without docker0/cni0); ${NO_TARGET_HINT}` });
    }
  }
  const pairs: PlannedPair[] = [];
  for (const from of nodes) {
    for (const to of nodes) {
      if (from.name === to.name) continue;
      const r = reachable.get(to.name)!;
      pairs.push(r.target ? { from: from.name, to: to.name, target: r.target } : { from: from.name, to: to.name, reason: r.reason });
    }
  }
  return { pairs, probes, sources };
}
