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
  /** Every key under the prefix, with values and TTLs. */
  list(prefix: string): Promise<KvEntry[]>;
  close(): Promise<void>;
}
