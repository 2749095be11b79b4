/**
 * etcd v2 (`/v2/keys`), the API of flannel <= 0.17: create with `prevExist=false` and `ttl=86400`,
 * renew by setting the key again with the TTL.
 */
import type { HttpClient, LineStream } from './http.js';
import { EtcdError, type RawEntry, type Registry, type WatchCallbacks } from './registry.js';

interface V2Node {
  key: string;
  value?: string;
  modifiedIndex?: number;
  dir?: boolean;
  nodes?: V2Node[];
}

const keyPath = (key: string) => '/v2/keys' + key.split('/').map(encodeURIComponent).join('/');
const form = (o: Record<string, string | number>) =>
  Object.entries(o)
    .map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(String(v))}`)
    .join('&');
const FORM = { 'content-type': 'application/x-www-form-urlencoded' };

export function etcdV2(client: HttpClient, auth?: { username: string; password: string }): Registry {
  const headers = (extra: Record<string, string> = {}) => {
    const h = { ...extra };
    if (auth?.username) h.authorization = 'Basic ' + Buffer.from(`${auth.username}:${auth.password}`).toString('base64');
    return h;
  };
  const parse = (key: string, status: number, body: string): { errorCode?: number; message?: string; node?: V2Node } => {
    try {
      return JSON.parse(body);
    } catch {
      throw new EtcdError(`etcd v2 ${key}: HTTP ${status}: ${body.slice(0, 200)}`);
    }
  };
  const fail = (key: string, r: { errorCode?: number; message?: string }) =>
    new EtcdError(`${r.errorCode ?? '?'}: ${r.message ?? 'error'} (${key})`);

  const flatten = (n: V2Node | undefined, out: RawEntry[]) => {
    if (!n) return out;
    if (n.dir) for (const c of n.nodes ?? []) flatten(c, out);
    else out.push({ key: n.key, value: n.value ?? '', ...(n.modifiedIndex !== undefined ? { revision: n.modifiedIndex } : {}) });
    return out;
  };

  /** The entries and X-Etcd-Index, the index a watch carries on from (flanneld's leasesWatchReset). */
  const listAt = async (dir: string) => {
    const res = await client.request('GET', keyPath(dir) + '?recursive=true', undefined, headers());
    const r = parse(dir, res.status, res.body) as { errorCode?: number; message?: string; node?: V2Node; index?: number };
    const index = Number(res.headers?.['x-etcd-index'] ?? r.index ?? 0);
    if (r.errorCode === 100) return { entries: [], revision: index };
    if (res.status !== 200) throw fail(dir, r);
    return { entries: flatten(r.node, []), revision: index };
  };

  return {
    api: 'v2',
    async get(key) {
      const res = await client.request('GET', keyPath(key), undefined, headers());
      const r = parse(key, res.status, res.body);
      if (r.errorCode === 100) return undefined;
      if (res.status !== 200 || !r.node) throw fail(key, r);
      return r.node.value;
    },
    async list(dir) {
      return (await listAt(dir)).entries;
    },
    listAt,
    watch(dir, fromRevision, cb, exact) {
      return watchV2(client, keyPath(dir), headers(), fromRevision, cb, exact);
    },
    async create(key, value, ttl) {
      const res = await client.request('PUT', keyPath(key) + '?prevExist=false', form({ value, ttl }), headers(FORM));
      const r = parse(key, res.status, res.body);
      if (r.errorCode === 105) return false;
      if (res.status !== 201 && res.status !== 200) throw fail(key, r);
      return true;
    },
    async renew(key, value, ttl) {
      const res = await client.request('PUT', keyPath(key), form({ value, ttl }), headers(FORM));
      const r = parse(key, res.status, res.body);
      if (res.status !== 200 && res.status !== 201) throw fail(key, r);
    },
    async delete(key) {
      const res = await client.request('DELETE', keyPath(key), undefined, headers());
      const r = parse(key, res.status, res.body);
      if (res.status !== 200 && r.errorCode !== 100) throw fail(key, r);
    },
  };
}

/**
 * An etcd v2 watch, as flanneld v0.11's client does it: one long poll
 * (`?wait=true&recursive=true&waitIndex=N`) per event, the next from the event's modifiedIndex + 1, so
 * nothing is lost while the history (1000 events) lasts; 401 "event index cleared" asks for a new list.
 */
function watchV2(client: HttpClient, path: string, headers: Record<string, string>, fromRevision: number | undefined, cb: WatchCallbacks, exact = false) {
  let closed = false;
  let failed = false;
  let current: LineStream | undefined;
  let next = fromRevision;
  const fail = (err: Error, compact?: number) => {
    if (closed || failed) return;
    failed = true;
    current?.close();
    cb.error(err, compact);
  };
  const poll = () => {
    if (closed || failed) return;
    const q = `?wait=true${exact ? '' : '&recursive=true'}${next !== undefined ? `&waitIndex=${next}` : ''}`;
    current = client.stream(path + q, '', headers, {
      line: (line) => {
        let r: { action?: string; errorCode?: number; message?: string; index?: number; node?: V2Node };
        try {
          r = JSON.parse(line);
        } catch {
          return fail(new EtcdError(`etcd v2 watch: not JSON: ${line.slice(0, 200)}`));
        }
        if (r.errorCode !== undefined) return fail(new EtcdError(`${r.errorCode}: ${r.message ?? 'error'} (watch)`), r.errorCode === 401 ? Math.max(1, r.index ?? 1) : undefined);
        if (!r.node) return;
        const revision = r.node.modifiedIndex ?? 0;
        next = revision + 1;
        const gone = ['delete', 'expire', 'compareAndDelete'].includes(r.action ?? '');
        cb.response([{ type: gone ? 'delete' : 'put', key: r.node.key, value: gone ? '' : (r.node.value ?? ''), revision }]);
      },
      end: (err) => (err ? fail(err) : poll()),
    }, 'GET');
  };
  poll();
  return {
    close() {
      closed = true;
      current?.close();
    },
  };
}
