/**
 * The stand-in's streaming lease watch (lab/flanneld-standin/src/watch-stream.ts) against a memory
 * registry that behaves like etcd's watch: a watch from a past revision gets one catch-up response
 * with every event since; a live watch gets one response per write (a txn's events together); a
 * cancelled watch gets nothing. Checks the correct releases apply every event, and that v0.20.2's
 * bug loses exactly what its mechanism loses (the rest of a response, and writes between watches).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { parseNet4, type Net4 } from '../../lab/flanneld-standin/src/ip4.js';
import { leaseKeyOf, leaseValue, type PeerLease } from '../../lab/flanneld-standin/src/lease-format.js';
import type { Logger } from '../../lab/flanneld-standin/src/log.js';
import type { Registry, WatchCallbacks, WatchEvent } from '../../lab/flanneld-standin/src/registry.js';
import { standinSettings } from '../../lab/flanneld-standin/src/standin-env.js';
import { watchLeases } from '../../lab/flanneld-standin/src/watch.js';
import { standinEnvText } from '../../src/lab/standin.js';

const PREFIX = '/coreos.com/network';
const net = (s: string) => parseNet4(s) as Net4;
const quiet: Logger = { info() {}, warn() {}, error() {} };
const lease = (n: number, mac: string): PeerLease => ({
  key: leaseKeyOf(PREFIX, net(`10.244.${n}.0/24`)), subnet: net(`10.244.${n}.0/24`), publicIp: `10.77.0.${n}`, backendType: 'vxlan', vni: 1, vtepMac: mac,
});
const value = (l: PeerLease) => leaseValue('v0.20', { publicIp: l.publicIp, backendType: 'vxlan', vxlan: { vni: 1, vtepMac: l.vtepMac! } });

/** etcd in memory: revisions, history, watches (catch-up in one response, then one response per txn). */
function watchingRegistry() {
  const data = new Map<string, { value: string; revision: number }>();
  const history: WatchEvent[] = [];
  const watchers = new Set<{ dir: string; cb: WatchCallbacks; from: number; exact?: boolean }>();
  let rev = 1;
  const txn = (ops: Array<{ l: PeerLease; del?: boolean }>) => {
    rev++;
    const events = ops.map(({ l, del }): WatchEvent => {
      if (del) data.delete(l.key);
      else data.set(l.key, { value: value(l), revision: rev });
      return { type: del ? 'delete' : 'put', key: l.key, value: del ? '' : value(l), revision: rev };
    });
    history.push(...events);
    for (const w of watchers) {
      const mine = events.filter((e) => (w.exact ? e.key === w.dir : e.key.startsWith(w.dir + '/')));
      if (mine.length) w.cb.response(mine);
    }
  };
  const reg: Registry & { put(...ls: PeerLease[]): void; del(l: PeerLease): void; openWatches(): number; watchesOpened: number } = {
    api: 'v3',
    watchesOpened: 0,
    put: (...ls) => txn(ls.map((l) => ({ l }))),
    del: (l) => txn([{ l, del: true }]),
    openWatches: () => [...watchers].filter((w) => !w.exact).length,
    async get(k) { return data.get(k)?.value; },
    async list(dir) { return (await reg.listAt!(dir)).entries; },
    async listAt(dir) {
      return { entries: [...data].filter(([k]) => k.startsWith(dir + '/')).map(([key, v]) => ({ key, ...v })), revision: rev };
    },
    async create() { return true; },
    async renew() {},
    async delete(k) { data.delete(k); },
    watch(dir, from, cb, exact) {
      if (!exact) reg.watchesOpened++;
      const w = { dir, cb, from: from ?? rev + 1, exact };
      watchers.add(w);
      const past = history.filter((e) => e.revision >= w.from && (exact ? e.key === dir : e.key.startsWith(dir + '/')));
      if (past.length) setImmediate(() => watchers.has(w) && cb.response(past));
      return { close: () => void watchers.delete(w) };
    },
  };
  return reg;
}

function node(reg: Registry, own: PeerLease, o: { watchBug?: boolean; gapMs?: number; snapshot?: PeerLease[] } = {}) {
  const programmed = new Map<string, string>();
  let revoked = false;
  const stop = watchLeases(reg, { prefix: PREFIX, ownKey: own.key, pollMs: 1000, log: quiet, watchBug: o.watchBug, gapMs: o.gapMs, snapshot: o.snapshot }, {
    onAdd: async (l) => void programmed.set(l.publicIp, l.vtepMac!),
    onRemove: async (l) => void programmed.delete(l.publicIp),
    onRevoked: () => void (revoked = true),
  });
  return { programmed, stop, revoked: () => revoked };
}

const settle = () => new Promise((r) => setTimeout(r, 30));

describe('stand-in: streaming lease watch (etcd v3)', () => {
  const a = lease(1, '02:00:00:00:00:a1');
  const b = lease(2, '02:00:00:00:00:b1');
  const c = lease(3, '02:00:00:00:00:c1');

  it('correct releases: lists, then applies every event of every response, removals and revocation too', async () => {
    const reg = watchingRegistry();
    reg.put(a, b);
    const n = node(reg, a);
    await vi.waitFor(() => expect(Object.fromEntries(n.programmed)).toEqual({ '10.77.0.2': '02:00:00:00:00:b1' }));
    reg.put(c, lease(2, '02:00:00:00:00:b2')); // one txn, one response, two events
    reg.put(lease(4, '02:00:00:00:00:d1'));
    await vi.waitFor(() => expect(Object.fromEntries(n.programmed)).toEqual({ '10.77.0.2': '02:00:00:00:00:b2', '10.77.0.3': '02:00:00:00:00:c1', '10.77.0.4': '02:00:00:00:00:d1' }));
    reg.del(c);
    await vi.waitFor(() => expect(n.programmed.has('10.77.0.3')).toBe(false));
    expect(reg.watchesOpened).toBe(1); // one watch, kept open
    reg.del(a);
    await vi.waitFor(() => expect(n.revoked()).toBe(true));
    expect(reg.openWatches()).toBe(0);
    n.stop();
  });

  it('v0.20.2: of a response with several events only the first is applied', async () => {
    const reg = watchingRegistry();
    reg.put(a, b, c);
    const n = node(reg, a, { watchBug: true });
    await vi.waitFor(() => expect(n.programmed.size).toBe(2));
    // The catch-up watch from the listed revision has come and gone; a live one is open.
    await vi.waitFor(() => expect([reg.watchesOpened, reg.openWatches()]).toEqual([2, 1]), { interval: 5 });
    reg.put(lease(2, '02:00:00:00:00:b2'), lease(3, '02:00:00:00:00:c2')); // written together
    await vi.waitFor(() => expect(n.programmed.get('10.77.0.2')).toBe('02:00:00:00:00:b2'));
    await settle();
    expect(n.programmed.get('10.77.0.3'), 'the second event of the response is lost').toBe('02:00:00:00:00:c1');
    reg.put(lease(3, '02:00:00:00:00:c3')); // alone in its response: applied
    await vi.waitFor(() => expect(n.programmed.get('10.77.0.3')).toBe('02:00:00:00:00:c3'));
    expect(reg.watchesOpened).toBeGreaterThan(3); // a new watch after every response
    n.stop();
    expect(reg.openWatches()).toBe(0);
  });

  it('v0.20.2: a write between one response and the next watch is lost (gapMs widens that window)', async () => {
    const reg = watchingRegistry();
    reg.put(a, b, c);
    const n = node(reg, a, { watchBug: true, gapMs: 40 });
    await vi.waitFor(() => expect(n.programmed.size).toBe(2));
    await vi.waitFor(() => expect([reg.watchesOpened, reg.openWatches()]).toEqual([2, 1]), { interval: 5 }); // a live watch
    reg.put(lease(2, '02:00:00:00:00:b2'));
    reg.put(lease(3, '02:00:00:00:00:c2')); // separate txn, but no watch is open after b2's response
    await vi.waitFor(() => expect(n.programmed.get('10.77.0.2')).toBe('02:00:00:00:00:b2'));
    await new Promise((r) => setTimeout(r, 100));
    expect(n.programmed.get('10.77.0.3')).toBe('02:00:00:00:00:c1');
    n.stop();
  });

  it('v0.20.2: the first watch starts at the listed revision, so leases written before it opens are lost but one', async () => {
    const reg = watchingRegistry();
    reg.put(a, b, c);
    const n = node(reg, a, { watchBug: true, gapMs: 300 });
    await vi.waitFor(() => expect(n.programmed.size).toBe(2), { interval: 5 }); // the list
    expect(reg.watchesOpened).toBe(0);
    reg.put(lease(2, '02:00:00:00:00:b2'));
    reg.put(lease(3, '02:00:00:00:00:c2')); // both before the first watch opens
    await vi.waitFor(() => expect(reg.watchesOpened).toBe(1));
    await settle();
    // The catch-up response starts with the listed revision's event (a, b, c: already applied).
    expect(Object.fromEntries(n.programmed)).toEqual({ '10.77.0.2': '02:00:00:00:00:b1', '10.77.0.3': '02:00:00:00:00:c1' });
    reg.del(a); // our own lease going is never lost
    await vi.waitFor(() => expect(n.revoked()).toBe(true));
    n.stop();
  });

  it('v0.20.2 with a gap (test equipment): it starts from the list taken before its own lease was written, so peers restarting with it are lost for certain', async () => {
    const reg = watchingRegistry();
    reg.put(a, b, c);
    // What node a listed right before writing its lease (acquireLease), with etcd's revisions.
    const { entries } = await reg.listAt!(`${PREFIX}/subnets`);
    const snapshot = [a, b, c].map((l) => ({ ...l, revision: entries.find((e) => e.key === l.key)!.revision }));
    reg.put(lease(1, '02:00:00:00:00:a2'));
    reg.put(lease(2, '02:00:00:00:00:b2')); // b and c restart together with a, before a lists
    reg.put(lease(3, '02:00:00:00:00:c2'));
    const n = node(reg, a, { watchBug: true, gapMs: 20, snapshot });
    await vi.waitFor(() => expect(reg.watchesOpened).toBeGreaterThanOrEqual(2));
    await settle();
    expect(Object.fromEntries(n.programmed)).toEqual({ '10.77.0.2': '02:00:00:00:00:b1', '10.77.0.3': '02:00:00:00:00:c1' });
    n.stop();
    // Without the gap the node lists after its own write, as v0.20.2 does, and sees both.
    const m = node(reg, a, { watchBug: true, snapshot });
    await vi.waitFor(() => expect(Object.fromEntries(m.programmed)).toEqual({ '10.77.0.2': '02:00:00:00:00:b2', '10.77.0.3': '02:00:00:00:00:c2' }));
    m.stop();
  });

  it('the same without the bug: every lease written before the watch opened arrives', async () => {
    const reg = watchingRegistry();
    reg.put(a, b, c);
    const n = node(reg, a, { watchBug: false, gapMs: 40 });
    await vi.waitFor(() => expect(n.programmed.size).toBe(2));
    reg.put(lease(2, '02:00:00:00:00:b2'));
    reg.put(lease(3, '02:00:00:00:00:c2'));
    await vi.waitFor(() => expect(Object.fromEntries(n.programmed)).toEqual({ '10.77.0.2': '02:00:00:00:00:b2', '10.77.0.3': '02:00:00:00:00:c2' }));
    n.stop();
  });

  it('lab up --watch-bug [--watch-bug-gap MS] writes the settings the stand-in reads', () => {
    expect(standinEnvText(false, 500)).toBeUndefined();
    const text = standinEnvText(true, 1000)!;
    expect(text).toContain('FLANNELD_STANDIN_WATCH_BUG=on\n');
    expect(text).toContain('FLANNELD_STANDIN_WATCH_GAP_MS=1000\n');
    expect(standinEnvText(true)).not.toContain('GAP');
    const dir = mkdtempSync(join(tmpdir(), 'standin-gap-'));
    try {
      writeFileSync(join(dir, 'env'), text);
      expect(standinSettings({ FLANNELD_STANDIN_ENV_FILE: join(dir, 'env') })).toMatchObject({ FLANNELD_STANDIN_WATCH_BUG: 'on', FLANNELD_STANDIN_WATCH_GAP_MS: '1000' });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
