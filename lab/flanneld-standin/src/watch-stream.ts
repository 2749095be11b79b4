/**
 * Watching peer leases with a real etcd watch (registries that have one: etcd v3 through the
 * gateway), so a peer's lease reaches the node as soon as etcd sends it, as in flanneld.
 *
 * Without the bug (v0.22.3; v0.20.2 with the bug switched off): list `<prefix>/subnets` (revision R),
 * apply every lease, then one watch from R+1; every event of every response is applied in order.
 *
 * v0.20.2's watch bug (FLANNEL.md §9), as subnet/etcd/registry.go watchSubnets does it at v0.20.2:
 * after the list, each round opens a NEW watch — the first from R itself (so the catch-up response
 * holds the event at R, already listed, and everything written since), every later one from "now"
 * (the cursor it carries on is the response's CompactRevision, 0) — reads ONE response, handles
 * `Events[0]` only and cancels the watch. Lost: the other events of a response (several leases
 * written in the same instant, or between the list and the first watch) and anything written between
 * one response and the next watch. Our own key's deletion is never lost (flanneld watches its own
 * lease separately). `gapMs` (FLANNELD_STANDIN_WATCH_GAP_MS, test equipment, default 0) waits that
 * long before each new watch, and the first watch then starts from the list taken before the node
 * wrote its own lease (fromSnapshot): together they make the loss certain for a test.
 */
import type { PeerLease } from './lease-format.js';
import { parsePeerLease, subnetsDir } from './lease-format.js';
import { peerLeasesOf } from './lease-manager.js';
import type { Registry, WatchEvent } from './registry.js';
import { contentOf, describeEvent, leaseApplier, leaseEvents, type LeaseEvent, type WatchHandlers, type WatchOptions } from './watch-apply.js';

export type StreamingRegistry = Registry & Required<Pick<Registry, 'watch' | 'listAt'>>;

const RESYNC_MS = 10_000;
const RETRY_MS = 1_000;

export function streamLeases(reg: StreamingRegistry, o: WatchOptions, h: WatchHandlers): () => void {
  const dir = subnetsDir(o.prefix);
  const { applyAll, applied } = leaseApplier(o, h);
  /** The latest content etcd told us of, per key (our own included), handled or not. */
  const known = new Map<string, PeerLease>();
  let stopped = false;
  let revoked = false;
  let watch: { close(): void } | undefined;
  let ownWatch: { close(): void } | undefined;
  const timers = new Set<NodeJS.Timeout>();
  let queue: Promise<void> = Promise.resolve();
  let failing = false;
  let started = false;

  const later = (ms: number, fn: () => void) => {
    if (stopped) return;
    const t = setTimeout(() => {
      timers.delete(t);
      if (!stopped) fn();
    }, ms);
    timers.add(t);
  };
  const serial = (fn: () => Promise<void>) => (queue = queue.then(fn).catch((e) => o.log.error(`Watch subnets: ${(e as Error).message}`)));
  const revoke = () => {
    if (revoked || stopped) return;
    revoked = true;
    stop();
    h.onRevoked();
  };
  const failed = (e: Error) => {
    if (!failing) o.log.error(`Watch subnets: ${e.message}`);
    failing = true;
  };

  /** A watch event as a lease event; undefined when it is not a lease or removes nothing we know. */
  const leaseEvent = (e: WatchEvent): LeaseEvent | undefined => {
    if (e.type === 'delete') {
      const lease = applied.get(e.key) ?? known.get(e.key);
      known.delete(e.key);
      return lease ? { type: 'removed', lease } : undefined;
    }
    const parsed = parsePeerLease(o.prefix, e.key, e.value);
    if (!parsed) return undefined;
    const lease = { ...parsed, revision: e.revision };
    known.set(e.key, lease);
    return { type: 'added', lease };
  };
  /** Apply, skipping additions the node already programmed with the same content (a renewal). */
  const applyEvents = (events: LeaseEvent[]) =>
    applyAll(events.filter((e) => e.type === 'removed' || !applied.has(e.lease.key) || contentOf(applied.get(e.lease.key)!) !== contentOf(e.lease)));

  /** Take `leases` as the whole of etcd's subnets: known from now on, the node programmed to match. */
  const adopt = async (leases: PeerLease[]) => {
    const events = leaseEvents(applied, leases);
    known.clear();
    for (const l of leases) known.set(l.key, l);
    await applyEvents(events);
  };

  /** List and apply the difference (flanneld's leasesWatchReset); the revision listed at, or undefined when revoked. */
  const reset = async (): Promise<number | undefined> => {
    const { entries, revision } = await reg.listAt(dir);
    const leases = peerLeasesOf(o.prefix, entries);
    if (!leases.some((l) => l.key === o.ownKey)) {
      revoke();
      return undefined;
    }
    await adopt(leases);
    failing = false;
    return revision;
  };

  /** Correct watching: one watch from `from`, every event applied; on failure, again from where it stopped. */
  const follow = (from: number) => {
    let next = from;
    watch = reg.watch(dir, from, {
      response: (events) => {
        failing = false;
        if (events.some((e) => e.type === 'delete' && e.key === o.ownKey)) return revoke();
        next = Math.max(next, ...events.map((e) => e.revision + 1));
        const les = events.flatMap((e) => leaseEvent(e) ?? []);
        serial(() => applyEvents(les));
      },
      error: (err, compact) => {
        watch?.close();
        failed(err);
        later(RETRY_MS, () => (compact ? start() : follow(next)));
      },
    });
  };

  /** With the bug: our own lease has its own watch (flanneld's WatchLease), so its deletion is never lost. */
  const watchOwn = (from: number | undefined) => {
    ownWatch = reg.watch(o.ownKey, from, {
      response: (events) => void (events.some((e) => e.type === 'delete') && revoke()),
      error: () => {
        ownWatch?.close();
        later(RETRY_MS, () => watchOwn(undefined));
      },
    }, true);
  };

  /** v0.20.2: a new watch per response, Events[0] handled, the rest dropped. */
  const buggyRound = (since: number | undefined) => {
    const open = () => {
      if (stopped) return;
      let done = false;
      const w = reg.watch(dir, since, {
        response: (events) => {
          if (done) return;
          done = true;
          w.close();
          failing = false;
          if (events.some((e) => e.type === 'delete' && e.key === o.ownKey)) return revoke();
          const [first, ...rest] = events.map((e) => ({ raw: e, le: leaseEvent(e) }));
          const dropped = rest.flatMap((x) => (x.le && x.raw.key !== o.ownKey ? [x.le] : []));
          if (dropped.length) {
            o.log.warn(`stand-in: v0.20.2 watch bug: ${dropped.length} lease event(s) in this watch response dropped: ${dropped.map(describeEvent).join(', ')}`);
          }
          // flanneld hands the event to its backend over an unbuffered channel, so the next watch
          // opens once the backend has taken it: after the previous event was applied, not this one.
          const handedOver = queue;
          serial(async () => {
            if (first.le && first.raw.key !== o.ownKey) await applyEvents([first.le]);
          });
          void handedOver.then(() => buggyRound(undefined));
        },
        error: (err) => {
          if (done) return;
          done = true;
          w.close();
          failed(err);
          later(RETRY_MS, () => buggyRound(undefined));
        },
      });
      watch = w;
    };
    if (o.gapMs) later(o.gapMs, open);
    else open();
  };

  /**
   * Test equipment (the bug with a gap): start from the list the node took before writing its own
   * lease (`snapshot`), as if its watch list had been that early, and watch from that list's newest
   * revision. Peers that wrote while this node started are then lost for certain, not only when the
   * timing happens to fall so (on a quiet machine nodes started together all write before any lists).
   */
  const fromSnapshot = async (snapshot: PeerLease[]): Promise<number> => {
    await adopt(snapshot);
    return Math.max(1, ...snapshot.map((l) => l.revision ?? 1));
  };

  const start = () =>
    serial(async () => {
      let rev: number | undefined;
      try {
        rev = o.watchBug && o.gapMs && o.snapshot && !started ? await fromSnapshot(o.snapshot) : await reset();
        started = true;
      } catch (e) {
        failed(e as Error);
        later(RETRY_MS, start);
        return;
      }
      if (rev === undefined || stopped) return;
      if (o.watchBug) {
        watchOwn(rev + 1);
        buggyRound(rev);
      } else follow(rev + 1);
    });

  const resync = () =>
    serial(async () => {
      if (h.onResync) await h.onResync([...applied.values()]).catch((e) => o.log.error(`resync failed: ${(e as Error).message}`));
      later(RESYNC_MS, resync);
    });

  const stop = () => {
    stopped = true;
    watch?.close();
    ownWatch?.close();
    for (const t of timers) clearTimeout(t);
    timers.clear();
  };

  start();
  later(RESYNC_MS, resync);
  return stop;
}
