/**
 * Taking, renewing and watching leases like flanneld's local manager (FLANNEL.md §1):
 * a 24 h TTL (fixed), renewed at expiry − renew margin (retry every minute on failure), peers
 * watched by polling `<prefix>/subnets` (default every 1 s), and "Lease has been revoked" when our
 * own key disappears.
 */
import type { NetworkConfig } from './config.js';
import { formatNet4, type Net4 } from './ip4.js';
import { leaseKeyOf, leaseValue, parsePeerLease, subnetsDir, type LeaseAttrs, type PeerLease } from './lease-format.js';
import type { Logger } from './log.js';
import type { Registry } from './registry.js';
import { chooseSubnet } from './subnet-choice.js';
import type { Flavour } from './version.js';

export const SUBNET_TTL_SECONDS = 24 * 60 * 60;

export interface OwnLease {
  key: string;
  subnet: Net4;
  value: string;
  /** ms since epoch. */
  expiresAt: number;
}

export class LeaseError extends Error {}

export async function listPeerLeases(reg: Registry, prefix: string): Promise<PeerLease[]> {
  const entries = await reg.list(subnetsDir(prefix));
  return entries.map((e) => parsePeerLease(prefix, e.key, e.value)).filter((l): l is PeerLease => l !== undefined);
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
    return { key: choice.lease.key, subnet: choice.lease.subnet, value, expiresAt: Date.now() + SUBNET_TTL_SECONDS * 1000 };
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
  return { key, subnet: choice.subnet, value, expiresAt: Date.now() + SUBNET_TTL_SECONDS * 1000 };
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

export interface WatchHandlers {
  onAdd(l: PeerLease): Promise<void>;
  onRemove(l: PeerLease): Promise<void>;
  onRevoked(): void;
  /** Every 10 s with the current peers. */
  onResync?(peers: PeerLease[]): Promise<void>;
}

/** Polls `<prefix>/subnets`; the first poll reports every existing peer as added. */
export function watchLeases(
  reg: Registry,
  o: { prefix: string; ownKey: string; pollMs: number; log: Logger },
  h: WatchHandlers,
): () => void {
  const known = new Map<string, { value: string; lease: PeerLease }>();
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let lastResync = 0;
  let failing = false;

  const poll = async () => {
    try {
      const leases = await listPeerLeases(reg, o.prefix);
      failing = false;
      if (!leases.some((l) => l.key === o.ownKey)) {
        h.onRevoked();
        return;
      }
      const peers = leases.filter((l) => l.key !== o.ownKey);
      const seen = new Set<string>();
      for (const l of peers) {
        seen.add(l.key);
        const value = JSON.stringify(l);
        if (known.get(l.key)?.value === value) continue;
        known.set(l.key, { value, lease: l });
        await h.onAdd(l).catch((e) => o.log.error(`failed to handle subnet ${formatNet4(l.subnet)}: ${(e as Error).message}`));
      }
      for (const [key, { lease }] of [...known]) {
        if (seen.has(key)) continue;
        known.delete(key);
        await h.onRemove(lease).catch((e) => o.log.error(`failed to remove subnet ${formatNet4(lease.subnet)}: ${(e as Error).message}`));
      }
      if (h.onResync && Date.now() - lastResync >= 10_000) {
        lastResync = Date.now();
        await h.onResync(peers).catch((e) => o.log.error(`resync failed: ${(e as Error).message}`));
      }
    } catch (e) {
      if (!failing) o.log.error(`Watch subnets: ${(e as Error).message}`);
      failing = true;
    }
    if (!stopped) {
      timer = setTimeout(() => void poll(), o.pollMs);
    }
  };
  void poll();
  return () => {
    stopped = true;
    clearTimeout(timer);
  };
}
