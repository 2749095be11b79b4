/**
 * The etcd seam (DESIGN.md §3): etcd v3 (etcd3), v2 (HTTP /v2/keys, flannel <= 0.17), in-memory.
 */
export interface KvEntry {
  key: string;
  value: string;
  /** Seconds left on the key's lease (v3) or TTL (v2); undefined when it has none. */
  ttl?: number;
}

export interface Kv {
  readonly api: 'v3' | 'v2' | 'memory';
  get(key: string): Promise<string | undefined>;
  put(key: string, value: string): Promise<void>;
  /** true when a key was deleted. */
  delete(key: string): Promise<boolean>;
  /**
   * Every key under the prefix, with values; with `ttl`, also each key's TTL (v3 asks etcd once per
   * lease, so callers that only need the values, e.g. a step polling for its lease, leave it off; v2
   * and memory always carry it).
   */
  list(prefix: string, opts?: { ttl?: boolean }): Promise<KvEntry[]>;
  /**
   * Create `key` bound to a TTL (v3: a lease; v2: a TTL key) only when it does not exist yet;
   * undefined when it does. The cluster lock (lock.ts) is built on this.
   */
  createLeased?(key: string, value: string, ttlSeconds: number): Promise<KvLease | undefined>;
  close(): Promise<void>;
}

/** A key created by createLeased: renew() before the TTL runs out; release() deletes it. */
export interface KvLease {
  renew(): Promise<void>;
  release(): Promise<void>;
}
