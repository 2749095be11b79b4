/**
 * In-memory Kv for unit tests. Records every write so tests can assert "nothing was written".
 */
import type { Kv, KvEntry } from './kv.js';

export interface MemoryKv extends Kv {
  /** Key → value, for direct inspection and seeding. */
  readonly data: Map<string, string>;
  /** TTLs (seconds) attached to keys, for lease-like entries. */
  readonly ttls: Map<string, number>;
  /** Every put/delete in order: ['put', key, value] | ['delete', key]. */
  readonly writes: (['put', string, string] | ['delete', string])[];
  /** Make the next calls fail with this error (e.g. an EtcdError) until cleared with undefined. */
  failWith(err: Error | undefined): void;
}

export function memoryKv(seed: Record<string, string> = {}, api: Kv['api'] = 'memory'): MemoryKv {
  const data = new Map(Object.entries(seed));
  const ttls = new Map<string, number>();
  const writes: MemoryKv['writes'] = [];
  let failure: Error | undefined;
  const check = () => {
    if (failure) throw failure;
  };
  return {
    api,
    data,
    ttls,
    writes,
    failWith(err) {
      failure = err;
    },
    async get(key) {
      check();
      return data.get(key);
    },
    async put(key, value) {
      check();
      writes.push(['put', key, value]);
      data.set(key, value);
    },
    async delete(key) {
      check();
      writes.push(['delete', key]);
      ttls.delete(key);
      return data.delete(key);
    },
    async list(prefix) {
      check();
      return [...data.entries()]
        .filter(([k]) => k.startsWith(prefix))
        .sort(([a], [b]) => a.localeCompare(b))
        .map(([key, value]): KvEntry => (ttls.has(key) ? { key, value, ttl: ttls.get(key) } : { key, value }));
    },
    async createLeased(key, value, ttlSeconds) {
      check();
      if (data.has(key)) return undefined;
      writes.push(['put', key, value]);
      data.set(key, value);
      ttls.set(key, ttlSeconds);
      const mine = () => data.get(key) === value;
      return {
        async renew() {
          check();
          if (!mine()) throw new Error(`${key}: the lease expired`);
          ttls.set(key, ttlSeconds);
        },
        async release() {
          check();
          if (!mine()) return;
          writes.push(['delete', key]);
          data.delete(key);
          ttls.delete(key);
        },
      };
    },
    async close() {},
  };
}
