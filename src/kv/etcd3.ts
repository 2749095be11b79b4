/**
 * Kv over the etcd v3 API (flannel >= 0.18) with the etcd3 package, TLS client certificates.
 * Calls fail fast: a per-call deadline, one attempt per endpoint, no open-ended retries.
 */
import { Etcd3, isRecoverableError, type IOptions } from 'etcd3';
import type { Kv, KvEntry } from './kv.js';
import { etcdFailure, type KvTls } from './errors.js';

export interface Etcd3Options {
  endpoints: string[];
  tls?: { ca: Buffer; cert: Buffer; key: Buffer };
  /** Deadline of each call; default 5000 ms. */
  timeoutMs?: number;
  tlsFiles?: KvTls;
}

/**
 * grpc-js passes an IP endpoint as the TLS servername, and node then warns (DEP0123) on every connect;
 * flanneld's endpoints are usually IPs, so drop that one warning and keep all others.
 */
let warningFilterInstalled = false;
function dropServernameWarning(): void {
  if (warningFilterInstalled) return;
  warningFilterInstalled = true;
  const emit = process.emitWarning.bind(process) as (...args: unknown[]) => void;
  process.emitWarning = ((...args: unknown[]) => {
    if (args[2] === 'DEP0123' || (args[1] as { code?: string } | undefined)?.code === 'DEP0123') return;
    emit(...args);
  }) as typeof process.emitWarning;
}

/** One attempt per endpoint, then the last error: etcd3's default retries make a dead endpoint slow to report. */
function attemptPerEndpoint(attempts: number) {
  return {
    async execute<T>(fn: (ctx: { signal: AbortSignal; attempt: number }) => Promise<T>): Promise<T> {
      let last: unknown;
      for (let attempt = 0; attempt < attempts; attempt++) {
        try {
          return await fn({ signal: new AbortController().signal, attempt });
        } catch (err) {
          last = err;
          if (!(err instanceof Error) || !isRecoverableError(err)) throw err;
        }
      }
      throw last;
    },
  };
}

export function etcd3Kv(opts: Etcd3Options): Kv {
  const timeoutMs = opts.timeoutMs ?? 5000;
  const options: IOptions = {
    hosts: opts.endpoints,
    dialTimeout: timeoutMs,
    defaultCallOptions: () => ({ deadline: Date.now() + timeoutMs }),
    faultHandling: { global: attemptPerEndpoint(opts.endpoints.length) as unknown as NonNullable<IOptions['faultHandling']>['global'] },
    ...(opts.tls ? { credentials: { rootCertificate: opts.tls.ca, certChain: opts.tls.cert, privateKey: opts.tls.key } } : {}),
  };
  dropServernameWarning();
  const client = new Etcd3(options);
  const fail = (op: string, err: unknown) => etcdFailure('v3', opts.endpoints, op, err, opts.tlsFiles);

  async function leaseTtl(id: string): Promise<number | undefined> {
    if (!id || id === '0') return undefined;
    const res = await client.leaseClient.leaseTimeToLive({ ID: id, keys: false });
    const ttl = Number(res.TTL);
    return ttl >= 0 ? ttl : undefined;
  }

  return {
    api: 'v3',
    async get(key) {
      try {
        return (await client.get(key).string()) ?? undefined;
      } catch (err) {
        throw fail(`get ${key}`, err);
      }
    },
    async put(key, value) {
      try {
        await client.put(key).value(value).exec();
      } catch (err) {
        throw fail(`put ${key}`, err);
      }
    },
    async delete(key) {
      try {
        const res = await client.delete().key(key).exec();
        return Number(res.deleted) > 0;
      } catch (err) {
        throw fail(`delete ${key}`, err);
      }
    },
    async list(prefix) {
      try {
        const res = await client.getAll().prefix(prefix).exec();
        const ttls = new Map<string, number | undefined>();
        for (const kv of res.kvs) {
          if (!ttls.has(kv.lease)) ttls.set(kv.lease, await leaseTtl(kv.lease));
        }
        return res.kvs
          .map((kv): KvEntry => {
            const ttl = ttls.get(kv.lease);
            return { key: kv.key.toString(), value: kv.value.toString(), ...(ttl !== undefined ? { ttl } : {}) };
          })
          .sort((a, b) => a.key.localeCompare(b.key));
      } catch (err) {
        throw fail(`list ${prefix}`, err);
      }
    },
    async close() {
      client.close();
    },
  };
}
