/**
 * Kv over etcd's v2 HTTP API (/v2/keys), the only API flannel <= 0.17 speaks. Plain node:https with the
 * client certificate; endpoints are tried in order when one cannot be reached.
 */
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { isIP } from 'node:net';
import { EtcdError } from '../errors.js';
import type { Kv, KvEntry } from './kv.js';
import { etcdFailure, type KvTls } from './errors.js';

export interface V2Options {
  endpoints: string[];
  tls?: { ca: Buffer; cert: Buffer; key: Buffer };
  timeoutMs?: number;
  tlsFiles?: KvTls;
}

interface V2Node {
  key?: string;
  value?: string;
  dir?: boolean;
  ttl?: number;
  nodes?: V2Node[];
}
interface V2Response {
  status: number;
  body: { node?: V2Node; errorCode?: number; message?: string; cause?: string };
}

const keyPath = (key: string) => '/v2/keys' + key.split('/').map(encodeURIComponent).join('/');

export function v2Kv(opts: V2Options): Kv {
  // Endpoints are tried in order on network errors: with mixed schemes a failed https endpoint would
  // fall back to plain http, so one scheme is required.
  if (new Set(opts.endpoints.map((e) => new URL(e).protocol)).size > 1) {
    throw new EtcdError(`etcd v2: endpoints mix http and https (${opts.endpoints.join(', ')}); refusing to fall back to plain http`);
  }
  const timeoutMs = opts.timeoutMs ?? 5000;
  const fail = (op: string, err: unknown) => etcdFailure('v2', opts.endpoints, op, err, opts.tlsFiles);

  function once(endpoint: string, method: string, path: string, form?: string): Promise<V2Response> {
    const url = new URL(path, endpoint.replace(/\/$/, '') + '/');
    const isHttps = url.protocol === 'https:';
    const request = isHttps ? httpsRequest : httpRequest;
    return new Promise((resolve, reject) => {
      const req = request(
        url,
        {
          method,
          timeout: timeoutMs,
          headers: form ? { 'content-type': 'application/x-www-form-urlencoded', 'content-length': Buffer.byteLength(form) } : {},
          ...(isHttps && opts.tls ? { ca: opts.tls.ca, cert: opts.tls.cert, key: opts.tls.key } : {}),
          // No SNI for IP addresses (RFC 6066); certificates are still checked against the IP SAN.
          ...(isHttps && isIP(url.hostname.replace(/^\[|\]$/g, '')) ? { servername: '' } : {}),
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString('utf8');
            try {
              resolve({ status: res.statusCode ?? 0, body: text ? JSON.parse(text) : {} });
            } catch {
              reject(new EtcdError(`etcd v2 at ${endpoint}: ${method} ${url.pathname} answered HTTP ${res.statusCode} with non-JSON: ${text.slice(0, 200)}`, {
                hint: 'Is this an etcd endpoint with the v2 API enabled (etcd --enable-v2)?',
              }));
            }
          });
        },
      );
      req.on('timeout', () => req.destroy(Object.assign(new Error(`timed out after ${timeoutMs} ms`), { code: 'ETIMEDOUT' })));
      req.on('error', reject);
      req.end(form);
    });
  }

  async function call(method: string, path: string, form?: string): Promise<V2Response> {
    let last: unknown;
    for (const endpoint of opts.endpoints) {
      try {
        return await once(endpoint, method, path, form);
      } catch (err) {
        if (err instanceof EtcdError) throw err;
        last = err;
      }
    }
    throw last;
  }

  function unexpected(op: string, res: V2Response): EtcdError {
    const msg = `${res.body.message ?? ''}${res.body.cause ? ` (${res.body.cause})` : ''}`;
    const hint = res.status === 404 && !res.body.errorCode
      ? 'The v2 API seems disabled: start etcd with --enable-v2, or set etcd.api: v3 (flannel >= 0.18).'
      : 'Check etcd.api and etcd.prefix in the inventory.';
    return new EtcdError(`etcd v2 at ${opts.endpoints.join(', ')}: ${op} answered HTTP ${res.status} ${msg}`.trim(), { hint });
  }

  async function run<T>(op: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      throw fail(op, err);
    }
  }

  const notFound = (res: V2Response) => res.status === 404 && res.body.errorCode === 100;

  function flatten(node: V2Node | undefined, out: KvEntry[]): KvEntry[] {
    if (!node) return out;
    if (node.dir) for (const child of node.nodes ?? []) flatten(child, out);
    else if (node.key !== undefined) out.push({ key: node.key, value: node.value ?? '', ...(node.ttl !== undefined ? { ttl: node.ttl } : {}) });
    return out;
  }

  return {
    api: 'v2',
    get: (key) =>
      run(`get ${key}`, async () => {
        const res = await call('GET', keyPath(key));
        if (notFound(res)) return undefined;
        if (res.status !== 200) throw unexpected(`get ${key}`, res);
        return res.body.node?.dir ? undefined : res.body.node?.value;
      }),
    put: (key, value) =>
      run(`put ${key}`, async () => {
        const res = await call('PUT', keyPath(key), new URLSearchParams({ value }).toString());
        if (res.status !== 200 && res.status !== 201) throw unexpected(`put ${key}`, res);
      }),
    delete: (key) =>
      run(`delete ${key}`, async () => {
        const res = await call('DELETE', keyPath(key));
        if (notFound(res)) return false;
        if (res.status !== 200) throw unexpected(`delete ${key}`, res);
        return true;
      }),
    list: (prefix) =>
      run(`list ${prefix}`, async () => {
        const dir = prefix.endsWith('/') ? prefix.slice(0, -1) : prefix.slice(0, prefix.lastIndexOf('/'));
        const res = await call('GET', `${keyPath(dir || '/')}?recursive=true&sorted=true`);
        if (notFound(res)) return [];
        if (res.status !== 200) throw unexpected(`list ${prefix}`, res);
        return flatten(res.body.node, [])
          .filter((e) => e.key.startsWith(prefix))
          .sort((a, b) => a.key.localeCompare(b.key));
      }),
    // The cluster lock: a TTL key created only when absent (prevExist=false), refreshed without changing it.
    createLeased: (key, value, ttl) =>
      run(`create ${key}`, async () => {
        const res = await call('PUT', `${keyPath(key)}?prevExist=false`, new URLSearchParams({ value, ttl: String(ttl) }).toString());
        if (res.body.errorCode === 105) return undefined; // key already exists
        if (res.status !== 201 && res.status !== 200) throw unexpected(`create ${key}`, res);
        const guard = `prevValue=${encodeURIComponent(value)}`;
        return {
          renew: () => run(`renew ${key}`, async () => {
            const r = await call('PUT', `${keyPath(key)}?prevExist=true&${guard}`, new URLSearchParams({ ttl: String(ttl), refresh: 'true' }).toString());
            if (r.status !== 200) throw unexpected(`renew ${key}`, r);
          }),
          release: () => run(`release ${key}`, async () => {
            await call('DELETE', `${keyPath(key)}?${guard}`);
          }),
        };
      }),
    async close() {},
  };
}
