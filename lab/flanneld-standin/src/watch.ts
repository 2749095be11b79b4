/**
 * Watching peer leases. The stand-in's etcd registries (v3 and v2) watch etcd (watch-stream.ts).
 * A registry without a watch (the unit tests' memory registries) is polled every `pollMs`, one poll
 * standing for one watch response. Our own key disappearing means "Lease has been revoked".
 *
 * Polling with the watch bug (FLANNEL.md §9, version.ts hasWatchBug; only reached by a registry
 * without a watch, e.g. the unit tests' memory registry): the node's snapshot is the lease list it
 * read right before writing its own lease; the first response holds every lease event since then,
 * each later response the events of one poll interval. Of each response only the first event
 * (lowest etcd revision) is handled, our own ignored as flanneld's leaseWatcher does, the rest
 * dropped. This exaggerates the real bug (real responses hold the events of one instant, not of a
 * second); the streaming watch reproduces it by its mechanism instead.
 */
import type { PeerLease } from './lease-format.js';
import { listPeerLeases } from './lease-manager.js';
import type { Registry } from './registry.js';
import { describeEvent, firstEventOnly, leaseApplier, leaseEvents, type LeaseEvent, type WatchHandlers, type WatchOptions } from './watch-apply.js';
import { streamLeases, type StreamingRegistry } from './watch-stream.js';

export { firstEventOnly, leaseApplier, leaseEvents, type LeaseEvent, type WatchHandlers, type WatchOptions };

/**
 * Watches `<prefix>/subnets`: with a real etcd watch where the registry has one (watch-stream.ts),
 * else by polling (below); returns a stop function.
 */
export function watchLeases(reg: Registry, o: WatchOptions, h: WatchHandlers): () => void {
  if (reg.watch && reg.listAt) return streamLeases(reg as StreamingRegistry, o, h);
  return pollLeases(reg, o, h);
}

/** Polls `<prefix>/subnets`, one poll standing for one watch response; returns a stop function. */
export function pollLeases(reg: Registry, o: WatchOptions, h: WatchHandlers): () => void {
  /** Every lease we consider seen, our own included. */
  const known = new Map<string, PeerLease>();
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let lastResync = 0;
  let failing = false;
  let first = true;

  const { applyAll, applied } = leaseApplier(o, h);

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
        o.log.warn(`stand-in: v0.20.2 watch bug: ${dropped.length} lease event(s) in this watch response dropped: ${dropped.map(describeEvent).join(', ')}`);
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
