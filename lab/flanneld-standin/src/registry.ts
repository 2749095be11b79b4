/** The stand-in's view of etcd: just what flanneld's subnet registry does. */
export interface RawEntry {
  key: string;
  value: string;
  /** etcd's modification revision (v3 mod_revision, v2 modifiedIndex): orders watch events. */
  revision?: number;
}

/** One event of an etcd watch response (v3: a PUT or DELETE of a key under the watched prefix). */
export interface WatchEvent {
  type: 'put' | 'delete';
  key: string;
  /** The new value ('' for a delete). */
  value: string;
  revision: number;
}

export interface WatchCallbacks {
  /** One watch response with at least one event, in etcd's order. */
  response(events: WatchEvent[]): void;
  /** The watch failed or was cancelled (compactRevision: history before it is gone: list again). */
  error(err: Error, compactRevision?: number): void;
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
  /** list() plus the store revision it was read at (v3 header.revision); registries that can watch have it. */
  listAt?(dir: string): Promise<{ entries: RawEntry[]; revision: number }>;
  /**
   * An etcd watch of every key under `dir` (or, with `exact`, of the key `dir` alone) from
   * `fromRevision` (inclusive; undefined: from now). Each response is handed over as etcd sent it,
   * until close().
   */
  watch?(dir: string, fromRevision: number | undefined, cb: WatchCallbacks, exact?: boolean): { close(): void };
}

export class EtcdError extends Error {}
