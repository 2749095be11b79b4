/**
 * etcd v3 through its JSON gRPC gateway (keys and values base64), the way flannel >= 0.18 uses
 * etcd (FLANNEL.md §1): Grant(TTL) + txn "Version(key)==0 → Put(key, value, lease)" to create;
 * a new Grant + plain Put to renew (no KeepAlive).
 */
import type { HttpClient } from './http.js';
import { EtcdError, type RawEntry, type Registry, type WatchCallbacks, type WatchEvent } from './registry.js';

const b64 = (s: string) => Buffer.from(s, 'utf8').toString('base64');
const unb64 = (s: string | undefined) => (s ? Buffer.from(s, 'base64').toString('utf8') : '');

/** The range end for a prefix query: the prefix with its last byte incremented. */
export function prefixEnd(prefix: string): string {
  const buf = Buffer.from(prefix, 'utf8');
  for (let i = buf.length - 1; i >= 0; i--) {
    if (buf[i] < 0xff) {
      const end = Buffer.from(buf.subarray(0, i + 1));
      end[i]++;
      return end.toString('base64');
    }
  }
  return Buffer.from([0]).toString('base64');
}

interface Auth {
  username: string;
  password: string;
}

export function etcdV3(client: HttpClient, auth?: Auth): Registry {
  let token: string | undefined;

  const authHeaders = async (): Promise<Record<string, string>> => {
    if (auth?.username && token === undefined) {
      const r = await client.request('POST', '/v3/auth/authenticate', JSON.stringify({ name: auth.username, password: auth.password }));
      if (r.status !== 200) throw new EtcdError(`etcd authentication failed (HTTP ${r.status})`);
      token = JSON.parse(r.body).token as string;
    }
    return token ? { authorization: token } : {};
  };

  const call = async (path: string, body: unknown): Promise<Record<string, any>> => {
    const headers: Record<string, string> = { 'content-type': 'application/json', ...(await authHeaders()) };
    const r = await client.request('POST', path, JSON.stringify(body), headers);
    let parsed: Record<string, any> = {};
    try {
      parsed = r.body ? JSON.parse(r.body) : {};
    } catch {
      throw new EtcdError(`etcd ${path}: HTTP ${r.status}: ${r.body.slice(0, 200)}`);
    }
    if (r.status !== 200 || parsed.error) {
      throw new EtcdError(`etcd ${path}: ${parsed.message ?? parsed.error ?? `HTTP ${r.status}`}`);
    }
    return parsed;
  };

  const listAt = async (dir: string) => {
    const prefix = dir.endsWith('/') ? dir : dir + '/';
    const r = await call('/v3/kv/range', { key: b64(prefix), range_end: prefixEnd(prefix) });
    const kvs = (r.kvs as { key: string; value?: string; mod_revision?: string }[] | undefined) ?? [];
    const entries = kvs.map((kv): RawEntry => ({
      key: unb64(kv.key),
      value: unb64(kv.value),
      ...(kv.mod_revision !== undefined ? { revision: Number(kv.mod_revision) } : {}),
    }));
    return { entries, revision: Number(r.header?.revision ?? 0) };
  };

  const grant = async (ttl: number): Promise<string> => {
    const r = await call('/v3/lease/grant', { TTL: ttl, ID: 0 });
    return String(r.ID);
  };

  return {
    api: 'v3',
    async get(key) {
      const r = await call('/v3/kv/range', { key: b64(key) });
      const kv = (r.kvs as { value?: string }[] | undefined)?.[0];
      return kv ? unb64(kv.value) : undefined;
    },
    async list(dir) {
      return (await listAt(dir)).entries;
    },
    listAt,
    watch(dir, fromRevision, cb, exact) {
      return watchV3(client, authHeaders, dir, fromRevision, cb, exact);
    },
    async create(key, value, ttl) {
      const lease = await grant(ttl);
      const r = await call('/v3/kv/txn', {
        compare: [{ key: b64(key), target: 'VERSION', result: 'EQUAL', version: 0 }],
        success: [{ request_put: { key: b64(key), value: b64(value), lease } }],
        failure: [],
      });
      return r.succeeded === true;
    },
    async renew(key, value, ttl) {
      const lease = await grant(ttl);
      await call('/v3/kv/put', { key: b64(key), value: b64(value), lease });
    },
    async delete(key) {
      await call('/v3/kv/deleterange', { key: b64(key) });
    },
  };
}

/**
 * POST /v3/watch on the gateway: a stream of `{"result": WatchResponse}` lines. The first answers
 * the create request; proto3 JSON leaves out defaults (a PUT event has no "type").
 */
function watchV3(client: HttpClient, authHeaders: () => Promise<Record<string, string>>, dir: string, fromRevision: number | undefined, cb: WatchCallbacks, exact = false) {
  const prefix = exact || dir.endsWith('/') ? dir : dir + '/';
  const range = exact ? { key: b64(dir) } : { key: b64(prefix), range_end: prefixEnd(prefix) };
  const create = { ...range, ...(fromRevision !== undefined ? { start_revision: String(fromRevision) } : {}) };
  let closed = false;
  let failed = false;
  let stream: { close(): void } | undefined;
  const fail = (err: Error, compact?: number) => {
    if (closed || failed) return;
    failed = true;
    cb.error(err, compact);
  };
  const onLine = (line: string) => {
    let msg: { result?: Record<string, any>; error?: { message?: string } };
    try {
      msg = JSON.parse(line);
    } catch {
      return fail(new EtcdError(`etcd /v3/watch: not JSON: ${line.slice(0, 200)}`));
    }
    if (msg.error || !msg.result) return fail(new EtcdError(`etcd /v3/watch: ${msg.error?.message ?? line.slice(0, 200)}`));
    const res = msg.result;
    if (res.canceled) {
      const compact = res.compact_revision !== undefined ? Number(res.compact_revision) : undefined;
      return fail(new EtcdError(`etcd /v3/watch cancelled${res.cancel_reason ? `: ${res.cancel_reason}` : ''}${compact ? ` (compacted at ${compact})` : ''}`), compact);
    }
    const events = ((res.events as { type?: string; kv?: { key?: string; value?: string; mod_revision?: string } }[] | undefined) ?? []).map(
      (e): WatchEvent => ({
        type: e.type === 'DELETE' ? 'delete' : 'put',
        key: unb64(e.kv?.key),
        value: unb64(e.kv?.value),
        revision: Number(e.kv?.mod_revision ?? res.header?.revision ?? 0),
      }),
    );
    if (events.length && !closed) cb.response(events);
  };
  authHeaders().then(
    (headers) => {
      if (closed) return;
      stream = client.stream('/v3/watch', JSON.stringify({ create_request: create }), headers, {
        line: onLine,
        end: (err) => fail(err ?? new EtcdError('etcd /v3/watch: the stream ended')),
      });
    },
    (e: Error) => fail(e),
  );
  return {
    close() {
      closed = true;
      stream?.close();
    },
  };
}
