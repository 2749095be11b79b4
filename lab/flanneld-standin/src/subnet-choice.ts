/**
 * Which subnet to lease (FLANNEL.md §1 "How a subnet is chosen", local_manager.go):
 * 1. the lease whose PublicIP is ours, if it still fits the config (else it is deleted);
 * 2. the subnet from subnet.env, if it fits and no lease overlaps it;
 * 3. a random one of the first 100 free subnets from SubnetMin to SubnetMax.
 */
import type { NetworkConfig } from './config.js';
import { formatNet4, netSize, overlaps, type Net4 } from './ip4.js';
import type { PeerLease } from './lease-format.js';

export type Choice =
  | { kind: 'reuse'; lease: PeerLease; message: string }
  | { kind: 'previous'; subnet: Net4; staleOwn?: PeerLease; message: string }
  | { kind: 'allocate'; subnet: Net4; staleOwn?: PeerLease; message: string }
  | { kind: 'exhausted'; staleOwn?: PeerLease; message: string };

/** The subnet fits the config: right length, inside Network, between SubnetMin and SubnetMax. */
export function fitsConfig(cfg: NetworkConfig, sn: Net4): boolean {
  return (
    sn.len === cfg.subnetLen &&
    overlaps(sn, cfg.network) &&
    sn.len >= cfg.network.len &&
    sn.ip >= cfg.subnetMin &&
    sn.ip <= cfg.subnetMax
  );
}

export function freeSubnets(cfg: NetworkConfig, taken: Net4[], limit = 100): Net4[] {
  const out: Net4[] = [];
  const step = netSize(cfg.subnetLen);
  for (let ip = cfg.subnetMin; ip <= cfg.subnetMax && out.length < limit; ip += step) {
    const sn = { ip, len: cfg.subnetLen };
    if (!taken.some((t) => overlaps(t, sn))) out.push(sn);
  }
  return out;
}

export function chooseSubnet(
  cfg: NetworkConfig,
  leases: PeerLease[],
  publicIp: string,
  previous: Net4 | undefined,
  random: () => number = Math.random,
): Choice {
  let staleOwn: PeerLease | undefined;
  const own = leases.find((l) => l.publicIp === publicIp);
  if (own) {
    if (fitsConfig(cfg, own.subnet)) {
      return { kind: 'reuse', lease: own, message: `Found lease (${formatNet4(own.subnet)}) for current IP (${publicIp}), reusing` };
    }
    staleOwn = own;
  }
  const others = leases.filter((l) => l !== staleOwn);
  const taken = others.map((l) => l.subnet);
  if (previous && fitsConfig(cfg, previous) && !taken.some((t) => overlaps(t, previous))) {
    return { kind: 'previous', subnet: previous, staleOwn, message: `Found previously leased subnet (${formatNet4(previous)}), reusing` };
  }
  const free = freeSubnets(cfg, taken);
  if (free.length === 0) return { kind: 'exhausted', staleOwn, message: 'out of subnets' };
  const pick = free[Math.min(free.length - 1, Math.floor(random() * free.length))];
  return { kind: 'allocate', subnet: pick, staleOwn, message: `Allocated lease (${formatNet4(pick)}) to current node (${publicIp})` };
}
