/**
 * Watching peer leases. The stand-in polls `<prefix>/subnets` (default every 1 s,
 * FLANNELD_STANDIN_POLL_MS) where flanneld uses an etcd watch; one poll stands for one watch
 * response. Our own key disappearing means "Lease has been revoked".
 *
 * The watch bug of flannel 0.18 … 0.21.2 over etcd v3 (FLANNEL.md §9, version.ts hasWatchBug) when
 * enabled (`watchBug`): the node's snapshot is the lease list it read right before writing its own
 * lease; the first response holds every lease event since then, each later response the events of one
 * poll interval. Of each response only the first event (lowest etcd revision) is handled — and when
 * that is the node's own lease it is ignored like flanneld's leaseWatcher does — the rest are dropped,
 * as v0.20.2 handles `wresp.Events[0]` and then watches from "now". So when several nodes (re)start
 * together, the earliest of them miss their peers' new leases (a missing route) or changed leases
 * (a stale VtepMAC in the neighbour and FDB entries) until flanneld restarts and lists again.
 */
import { formatNet4 } from './ip4.js';
import type { PeerLease } from './lease-format.js';
import { listPeerLeases } from './lease-manager.js';
import type { Logger } from './log.js';
import type { Registry } from './registry.js';

export interface WatchHandlers {
  onAdd(l: PeerLease): Promise<void>;
  /** Several additions at once (same result as onAdd for each); when it fails, each goes to onAdd. */
  onAddMany?(ls: PeerLease[]): Promise<void>;
  onRemove(l: PeerLease): Promise<void>;
  onRevoked(): void;
  /** Every 10 s with the peers handled so far (flanneld re-checks the routes it added, not etcd). */
  onResync?(peers: PeerLease[]): Promise<void>;
}

export interface WatchOptions {
  prefix: string;
  ownKey: string;
  pollMs: number;
  log: Logger;
  /** Emulate the v0.20.2 watch bug (see the file header). */
  watchBug?: boolean;
  /** With watchBug: the leases listed right before our own lease was written. */
  snapshot?: PeerLease[];
}

export interface LeaseEvent {
  type: 'added' | 'removed';
  lease: PeerLease;
}

/** What identifies a lease's content (not its revision: a renewal with the same value is no change). */
const contentOf = (l: PeerLease) => JSON.stringify({ ...l, revision: undefined });

/**
 * The events that turn `known` into `current`: changed or new keys in revision order, then removals.
 * Pure; `known` is not modified.
 */
export function leaseEvents(known: ReadonlyMap<string, PeerLease>, current: PeerLease[]): LeaseEvent[] {
  const changed = current
    .filter((l) => {
      const k = known.get(l.key);
      return k === undefined || contentOf(k) !== contentOf(l);
    })
    .sort((a, b) => (a.revision ?? Infinity) - (b.revision ?? Infinity));
  const keys = new Set(current.map((l) => l.key));
  const removed = [...known.values()].filter((l) => !keys.has(l.key));
  return [...changed.map((lease) => ({ type: 'added' as const, lease })), ...removed.map((lease) => ({ type: 'removed' as const, lease }))];
}

/**
 * One watch response as v0.20.2 handles it: the first event only. Returns the peer events to apply
 * (none when the first one is our own lease) and the events lost.
 */
export function firstEventOnly(events: LeaseEvent[], ownKey: string): { handled: LeaseEvent[]; dropped: LeaseEvent[] } {
  if (events.length === 0) return { handled: [], dropped: [] };
  const [first, ...rest] = events;
  return { handled: first.lease.key === ownKey ? [] : [first], dropped: rest.filter((e) => e.lease.key !== ownKey) };
}

const describe = (e: LeaseEvent) => `${e.type === 'added' ? '' : 'removal of '}${formatNet4(e.lease.subnet)}${e.lease.vtepMac ? ` (VtepMAC ${e.lease.vtepMac})` : ''}`;

/** Polls `<prefix>/subnets`; returns a stop function. */
export function watchLeases(reg: Registry, o: WatchOptions, h: WatchHandlers): () => void {
  /** Every lease we consider seen, our own included. */
  const known = new Map<string, PeerLease>();
  /** The peer leases as last handled (what the node programmed). */
  const applied = new Map<string, PeerLease>();
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let lastResync = 0;
  let failing = false;
  let first = true;

  const apply = async (e: LeaseEvent) => {
    if (e.lease.key === o.ownKey) return;
    if (e.type === 'added') applied.set(e.lease.key, e.lease);
    else applied.delete(e.lease.key);
    if (e.type === 'added') {
      await h.onAdd(e.lease).catch((err) => o.log.error(`failed to handle subnet ${formatNet4(e.lease.subnet)}: ${(err as Error).message}`));
    } else {
      await h.onRemove(e.lease).catch((err) => o.log.error(`failed to remove subnet ${formatNet4(e.lease.subnet)}: ${(err as Error).message}`));
    }
  };

  /** Events in order; a run of additions goes to onAddMany in one call (the kernel state is the same). */
  const applyAll = async (events: LeaseEvent[]) => {
    for (let i = 0; i < events.length; ) {
      let j = i;
      while (j < events.length && events[j].type === 'added' && events[j].lease.key !== o.ownKey) j++;
      const run = events.slice(i, j);
      if (run.length > 1 && h.onAddMany) {
        for (const e of run) applied.set(e.lease.key, e.lease);
        const ok = await h.onAddMany(run.map((e) => e.lease)).then(() => true, () => false);
        if (!ok) for (const e of run) await apply(e); // one by one: each failure is named
        i = j;
        continue;
      }
      await apply(events[i]);
      i++;
    }
  };

  const poll = async () => {
    try {
      if (first && o.watchBug && o.snapshot) {
        // The snapshot (leasesWatchReset): every lease listed before our own write, as it was then.
        for (const l of o.snapshot) known.set(l.key, l);
        await applyAll(o.snapshot.map((lease) => ({ type: 'added' as const, lease })));
      }
      const leases = await listPeerLeases(reg, o.prefix);
      failing = false;
      if (!leases.some((l) => l.key === o.ownKey)) {
        h.onRevoked();
        return;
      }
      const events = leaseEvents(known, leases);
      const { handled, dropped } = o.watchBug && !(first && !o.snapshot) ? firstEventOnly(events, o.ownKey) : { handled: events, dropped: [] };
      await applyAll(handled);
      if (dropped.length) {
        o.log.warn(`stand-in: v0.20.2 watch bug: ${dropped.length} lease event(s) in this watch response dropped: ${dropped.map(describe).join(', ')}`);
      }
      known.clear();
      for (const l of leases) known.set(l.key, l);
      first = false;
      if (h.onResync && Date.now() - lastResync >= 10_000) {
        lastResync = Date.now();
        await h.onResync([...applied.values()]).catch((e) => o.log.error(`resync failed: ${(e as Error).message}`));
      }
    } catch (e) {
      if (!failing) o.log.error(`Watch subnets: ${(e as Error).message}`);
      failing = true;
    }
    if (!stopped) timer = setTimeout(() => void poll(), o.pollMs);
  };
  void poll();
  return () => {
    stopped = true;
    clearTimeout(timer);
  };
}
