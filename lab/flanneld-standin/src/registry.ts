/** The stand-in's view of etcd: just what flanneld's subnet registry does. */
export interface RawEntry {
  key: string;
  value: string;
  /** etcd's modification revision (v3 mod_revision, v2 modifiedIndex): orders watch events. */
  revision?: number;
}

export interface Registry {
  readonly api: 'v2' | 'v3';
  /** The value of `key`, undefined when the key does not exist. */
  get(key: string): Promise<string | undefined>;
  /** Every key/value under `dir` (a directory without trailing slash). */
  list(dir: string): Promise<RawEntry[]>;
  /** Compare-and-set create with a TTL (v3: Grant + txn Version==0; v2: prevExist=false). false = key exists. */
  create(key: string, value: string, ttlSeconds: number): Promise<boolean>;
  /** Put with a fresh TTL (v3: a new lease grant, plain Put; v2: set with ttl). */
  renew(key: string, value: string, ttlSeconds: number): Promise<void>;
  delete(key: string): Promise<void>;
}

export class EtcdError extends Error {}
