/**
 * Kv over the etcd v3 API (flannel >= 0.18) with the etcd3 package, TLS client certificates.
 * Calls fail fast: a per-call deadline, one attempt per endpoint, no open-ended retries.
 * The etcd3 package (gRPC and its .proto parsing, ~150 ms of CPU to load) is imported on a v3 Kv's
 * first call, not when this module is or a Kv is opened: most CLI runs never talk to etcd v3, and
 * those that do start their SSH connections first (load-order.ts).
 */
import type { Etcd3, IOptions } from 'etcd3';
import type { Kv, KvEntry, KvLease } from './kv.js';
import { etcdFailure, type KvTls } from './errors.js';
import { loadOnce } from '../load-order.js';

const loadEtcd3 = loadOnce(() => import('etcd3'));

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
function attemptPerEndpoint(attempts: number, isRecoverableError: (err: Error) => boolean) {
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

async function openClient(opts: Etcd3Options): Promise<Etcd3> {
  const { Etcd3, isRecoverableError } = await loadEtcd3();
  const timeoutMs = opts.timeoutMs ?? 5000;
  const options: IOptions = {
    hosts: opts.endpoints,
    dialTimeout: timeoutMs,
    defaultCallOptions: () => ({ deadline: Date.now() + timeoutMs }),
    faultHandling: { global: attemptPerEndpoint(opts.endpoints.length, isRecoverableError) as unknown as NonNullable<IOptions['faultHandling']>['global'] },
    ...(opts.tls ? { credentials: { rootCertificate: opts.tls.ca, certChain: opts.tls.cert, privateKey: opts.tls.key } } : {}),
  };
  dropServernameWarning();
  return new Etcd3(options);
}

export function etcd3Kv(opts: Etcd3Options): Kv {
  // etcd3 loads on the first call (a load failure surfaces as that call's EtcdError): a command that
  // opens its SSH connections first gets them going before this process spends its CPU on gRPC.
  let client: Promise<Etcd3> | undefined;
  const open = () => (client ??= openClient(opts));
  let closed = false;
  const fail = (op: string, err: unknown) => etcdFailure('v3', opts.endpoints, op, err, opts.tlsFiles);

  async function leaseTtl(client: Etcd3, id: string): Promise<number | undefined> {
    if (!id || id === '0') return undefined;
    const res = await client.leaseClient.leaseTimeToLive({ ID: id, keys: false });
    const ttl = Number(res.TTL);
    return ttl >= 0 ? ttl : undefined;
  }

  return {
    api: 'v3',
    async get(key) {
      try {
        const client = await open();
        return (await client.get(key).string()) ?? undefined;
      } catch (err) {
        throw fail(`get ${key}`, err);
      }
    },
    async put(key, value) {
      try {
        const client = await open();
        await client.put(key).value(value).exec();
      } catch (err) {
        throw fail(`put ${key}`, err);
      }
    },
    async delete(key) {
      try {
        const client = await open();
        const res = await client.delete().key(key).exec();
        return Number(res.deleted) > 0;
      } catch (err) {
        throw fail(`delete ${key}`, err);
      }
    },
    async list(prefix, opts) {
      try {
        const client = await open();
        const res = await client.getAll().prefix(prefix).exec();
        const ttls = new Map<string, number | undefined>();
        if (opts?.ttl) {
          const ids = [...new Set(res.kvs.map((kv) => kv.lease))];
          const got = await Promise.all(ids.map((id) => leaseTtl(client, id)));
          ids.forEach((id, i) => ttls.set(id, got[i]));
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
    async createLeased(key, value, ttlSeconds): Promise<KvLease | undefined> {
      try {
        const client = await open();
        const lease = client.lease(ttlSeconds, { autoKeepAlive: false });
        lease.on('lost', () => {}); // the holder notices through renew()
        const id = await lease.grant();
        const res = await client.if(key, 'Create', '==', 0).then(client.put(key).value(value).lease(id)).commit();
        if (!res.succeeded) {
          await lease.revoke().catch(() => {});
          return undefined;
        }
        return {
          renew: async () => {
            const r = await lease.keepaliveOnce().catch((err) => { throw fail(`renew lease of ${key}`, err); });
            if (!(Number(r.TTL) > 0)) throw fail(`renew lease of ${key}`, new Error('the lease expired'));
          },
          release: async () => {
            await lease.revoke().catch((err) => { throw fail(`release ${key}`, err); });
          },
        };
      } catch (err) {
        throw fail(`create ${key}`, err);
      }
    },
    async close() {
      if (closed) return;
      closed = true;
      // A client that never loaded has nothing to close.
      const c = await client?.catch(() => undefined);
      c?.close();
    },
  };
}
