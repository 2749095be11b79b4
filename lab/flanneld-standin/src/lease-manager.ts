/**
 * Taking, renewing and watching leases like flanneld's local manager (FLANNEL.md §1):
 * a 24 h TTL (fixed), renewed at expiry − renew margin (retry every minute on failure), peers
 * watched by watch.ts.
 */
import type { NetworkConfig } from './config.js';
import { formatNet4, type Net4 } from './ip4.js';
import { leaseKeyOf, leaseValue, parsePeerLease, subnetsDir, type LeaseAttrs, type PeerLease } from './lease-format.js';
import type { Logger } from './log.js';
import type { RawEntry, Registry } from './registry.js';
import { chooseSubnet } from './subnet-choice.js';
import type { Flavour } from './version.js';

export const SUBNET_TTL_SECONDS = 24 * 60 * 60;

export interface OwnLease {
  key: string;
  subnet: Net4;
  value: string;
  /** ms since epoch. */
  expiresAt: number;
  /** The leases as listed right before ours was written (the v0.20.2 emulation's watch snapshot). */
  listed: PeerLease[];
}

export class LeaseError extends Error {}

/** The leases among registry entries (other keys skipped), with their etcd revision when known. */
export function peerLeasesOf(prefix: string, entries: RawEntry[]): PeerLease[] {
  return entries.flatMap((e) => {
    const l = parsePeerLease(prefix, e.key, e.value);
    return l ? [e.revision !== undefined ? { ...l, revision: e.revision } : l] : [];
  });
}

export async function listPeerLeases(reg: Registry, prefix: string): Promise<PeerLease[]> {
  return peerLeasesOf(prefix, await reg.list(subnetsDir(prefix)));
}

export async function acquireLease(
  reg: Registry,
  o: { prefix: string; flavour: Flavour; cfg: NetworkConfig; attrs: LeaseAttrs; previous?: Net4; log: Logger; random?: () => number },
): Promise<OwnLease> {
  const leases = await listPeerLeases(reg, o.prefix);
  const choice = chooseSubnet(o.cfg, leases, o.attrs.publicIp, o.previous, o.random);
  const value = leaseValue(o.flavour, o.attrs);
  if (choice.kind === 'reuse') {
    await reg.renew(choice.lease.key, value, SUBNET_TTL_SECONDS);
    o.log.info(choice.message);
    return { key: choice.lease.key, subnet: choice.lease.subnet, value, expiresAt: Date.now() + SUBNET_TTL_SECONDS * 1000, listed: leases };
  }
  if (choice.staleOwn) {
    o.log.info(
      `Found lease (${formatNet4(choice.staleOwn.subnet)}) for current IP (${o.attrs.publicIp}) but not compatible with current config, deleting`,
    );
    await reg.delete(choice.staleOwn.key);
  }
  if (choice.kind === 'exhausted') throw new LeaseError('failed to acquire lease: out of subnets');
  const key = leaseKeyOf(o.prefix, choice.subnet);
  if (!(await reg.create(key, value, SUBNET_TTL_SECONDS))) {
    throw new LeaseError('failed to acquire lease: subnet already exists');
  }
  o.log.info(choice.message);
  return { key, subnet: choice.subnet, value, expiresAt: Date.now() + SUBNET_TTL_SECONDS * 1000, listed: leases };
}

/** Renews at expiresAt − margin, retrying every minute on failure. Returns a stop function. */
export function startRenewal(reg: Registry, own: OwnLease, marginMinutes: number, log: Logger): () => void {
  let timer: NodeJS.Timeout | undefined;
  let expiresAt = own.expiresAt;
  const schedule = (ms: number) => {
    timer = setTimeout(() => void renew(), Math.max(0, Math.min(ms, 2 ** 31 - 1)));
    timer.unref();
  };
  const renew = async () => {
    try {
      await reg.renew(own.key, own.value, SUBNET_TTL_SECONDS);
      expiresAt = Date.now() + SUBNET_TTL_SECONDS * 1000;
      log.info(`Lease renewed, new expiration: ${new Date(expiresAt).toISOString()}`);
      schedule(expiresAt - marginMinutes * 60_000 - Date.now());
    } catch (e) {
      log.error(`Error renewing lease (trying again in 1 min): ${(e as Error).message}`);
      schedule(60_000);
    }
  };
  schedule(expiresAt - marginMinutes * 60_000 - Date.now());
  return () => clearTimeout(timer);
}
