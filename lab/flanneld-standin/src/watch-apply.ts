/**
 * What both ways of watching leases share (watch.ts polls, watch-stream.ts streams): the handlers,
 * the options, lease events and how they are applied to the node.
 */
import { formatNet4 } from './ip4.js';
import type { PeerLease } from './lease-format.js';
import type { Logger } from './log.js';

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
  /**
   * With watchBug: the leases listed right before our own lease was written (polling: the first
   * response's base; streaming: the start when gapMs is set, watch-stream.ts fromSnapshot).
   */
  snapshot?: PeerLease[];
  /** Streaming with watchBug: milliseconds before each new watch (FLANNELD_STANDIN_WATCH_GAP_MS, default 0; test equipment). */
  gapMs?: number;
}

export interface LeaseEvent {
  type: 'added' | 'removed';
  lease: PeerLease;
}

/** What identifies a lease's content (not its revision: a renewal with the same value is no change). */
export const contentOf = (l: PeerLease) => JSON.stringify({ ...l, revision: undefined });

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

export const describeEvent = (e: LeaseEvent) => `${e.type === 'added' ? '' : 'removal of '}${formatNet4(e.lease.subnet)}${e.lease.vtepMac ? ` (VtepMAC ${e.lease.vtepMac})` : ''}`;

/**
 * Applies lease events to the node through the handlers, in order; `applied` is what the node
 * programmed (peer key → lease). A run of additions goes to onAddMany in one call.
 */
export function leaseApplier(o: Pick<WatchOptions, 'ownKey' | 'log'>, h: WatchHandlers) {
  const applied = new Map<string, PeerLease>();
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
  return { applyAll, applied };
}

