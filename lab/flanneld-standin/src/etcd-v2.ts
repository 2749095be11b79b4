/**
 * etcd v2 (`/v2/keys`), the API of flannel <= 0.17: create with `prevExist=false` and `ttl=86400`,
 * renew by setting the key again with the TTL.
 */
import type { HttpClient } from './http.js';
import { EtcdError, type RawEntry, type Registry } from './registry.js';

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
      const res = await client.request('GET', keyPath(dir) + '?recursive=true', undefined, headers());
      const r = parse(dir, res.status, res.body);
      if (r.errorCode === 100) return [];
      if (res.status !== 200) throw fail(dir, r);
      return flatten(r.node, []);
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
