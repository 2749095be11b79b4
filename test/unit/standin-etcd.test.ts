import { describe, expect, it, vi } from 'vitest';
import { etcdV2 } from '../../lab/flanneld-standin/src/etcd-v2.js';
import { etcdV3, prefixEnd } from '../../lab/flanneld-standin/src/etcd-v3.js';
import type { HttpClient } from '../../lab/flanneld-standin/src/http.js';
import { parseNetworkConfig } from '../../lab/flanneld-standin/src/config.js';
import { formatNet4, parseNet4, type Net4 } from '../../lab/flanneld-standin/src/ip4.js';
import { acquireLease, LeaseError, startRenewal, SUBNET_TTL_SECONDS } from '../../lab/flanneld-standin/src/lease-manager.js';
import { watchLeases } from '../../lab/flanneld-standin/src/watch.js';
import type { Logger } from '../../lab/flanneld-standin/src/log.js';
import type { Registry } from '../../lab/flanneld-standin/src/registry.js';

interface Call {
  method: string;
  path: string;
  body?: string;
}

function fakeHttp(answer: (c: Call) => { status: number; body: unknown }): HttpClient & { calls: Call[] } {
  const calls: Call[] = [];
  return {
    calls,
    async request(method, path, body) {
      const c = { method, path, body };
      calls.push(c);
      const a = answer(c);
      return { status: a.status, body: JSON.stringify(a.body) };
    },
    /** A stream answers with the lines of `body` (an array of messages), then stays open. */
    stream(path, body, _headers, h) {
      const c = { method: 'STREAM', path, body };
      calls.push(c);
      const a = answer(c);
      let open = true;
      queueMicrotask(() => {
        h.status?.(a.status, {});
        for (const m of a.body as unknown[]) if (open) h.line(JSON.stringify(m));
      });
      return { close: () => void (open = false) };
    },
    close() {},
  };
}

const b64 = (s: string) => Buffer.from(s).toString('base64');
const unb64 = (s: string) => Buffer.from(s, 'base64').toString();
const quiet: Logger = { info() {}, warn() {}, error() {} };

describe('stand-in etcd v3 client (JSON gateway)', () => {
  it('watch: POST /v3/watch with the prefix range and start revision; PUT events (no "type" in proto3 JSON), DELETEs, cancellation', async () => {
    const hdr = { header: { revision: '9' } };
    const http = fakeHttp(() => ({
      status: 200,
      body: [
        { result: { ...hdr, created: true } },
        { result: { ...hdr, events: [{ kv: { key: b64('/p/subnets/10.1.2.0-24'), value: b64('{"PublicIP":"10.0.0.2"}'), mod_revision: '8' } }, { type: 'DELETE', kv: { key: b64('/p/subnets/10.1.3.0-24'), mod_revision: '9' } }] } },
        { result: { ...hdr, canceled: true, compact_revision: '5' } },
      ],
    }));
    const responses: unknown[] = [];
    const errors: Array<[string, number | undefined]> = [];
    const w = etcdV3(http).watch!('/p/subnets', 7, { response: (ev) => responses.push(ev), error: (e, c) => errors.push([e.message, c]) });
    await vi.waitFor(() => expect(errors).toHaveLength(1));
    w.close();
    expect(JSON.parse(http.calls[0].body!)).toEqual({ create_request: { key: b64('/p/subnets/'), range_end: b64('/p/subnets0'), start_revision: '7' } });
    expect(responses).toEqual([[
      { type: 'put', key: '/p/subnets/10.1.2.0-24', value: '{"PublicIP":"10.0.0.2"}', revision: 8 },
      { type: 'delete', key: '/p/subnets/10.1.3.0-24', value: '', revision: 9 },
    ]]);
    expect(errors[0][1]).toBe(5);
    // From "now" (no start_revision), one exact key (no range_end).
    const own = etcdV3(http).watch!('/p/subnets/10.1.2.0-24', undefined, { response() {}, error() {} }, true);
    await vi.waitFor(() => expect(http.calls).toHaveLength(2));
    own.close();
    expect(JSON.parse(http.calls[1].body!)).toEqual({ create_request: { key: b64('/p/subnets/10.1.2.0-24') } });
  });

  it('creates with Grant(86400) then a txn "Version(key)==0 → Put with lease"', async () => {
    const http = fakeHttp((c) =>
      c.path === '/v3/lease/grant' ? { status: 200, body: { ID: '7587869254413516815', TTL: '86400' } } : { status: 200, body: { succeeded: true } },
    );
    const ok = await etcdV3(http).create('/p/subnets/10.1.2.0-24', '{"x":1}', SUBNET_TTL_SECONDS);
    expect(ok).toBe(true);
    expect(http.calls.map((c) => c.path)).toEqual(['/v3/lease/grant', '/v3/kv/txn']);
    expect(JSON.parse(http.calls[0].body!)).toEqual({ TTL: 86400, ID: 0 });
    const txn = JSON.parse(http.calls[1].body!);
    expect(txn.compare).toEqual([{ key: b64('/p/subnets/10.1.2.0-24'), target: 'VERSION', result: 'EQUAL', version: 0 }]);
    expect(txn.success[0].request_put).toEqual({ key: b64('/p/subnets/10.1.2.0-24'), value: b64('{"x":1}'), lease: '7587869254413516815' });
  });

  it('reports a lost compare-and-set as false', async () => {
    const http = fakeHttp((c) => (c.path === '/v3/lease/grant' ? { status: 200, body: { ID: '1' } } : { status: 200, body: {} }));
    expect(await etcdV3(http).create('/k', 'v', 86400)).toBe(false);
  });

  it('renews with a new grant and a plain put (no KeepAlive)', async () => {
    const http = fakeHttp((c) => (c.path === '/v3/lease/grant' ? { status: 200, body: { ID: '42' } } : { status: 200, body: {} }));
    await etcdV3(http).renew('/k', 'v', 86400);
    expect(http.calls.map((c) => c.path)).toEqual(['/v3/lease/grant', '/v3/kv/put']);
    expect(JSON.parse(http.calls[1].body!)).toEqual({ key: b64('/k'), value: b64('v'), lease: '42' });
  });

  it('lists a directory with a prefix range and decodes base64', async () => {
    const http = fakeHttp(() => ({ status: 200, body: { kvs: [{ key: b64('/p/subnets/a'), value: b64('A') }] } }));
    expect(await etcdV3(http).list('/p/subnets')).toEqual([{ key: '/p/subnets/a', value: 'A' }]);
    const body = JSON.parse(http.calls[0].body!);
    expect(unb64(body.key)).toBe('/p/subnets/');
    expect(unb64(body.range_end)).toBe('/p/subnets0');
    expect(unb64(prefixEnd('ab'))).toBe('ac');
  });

  it('turns gateway errors into EtcdError messages', async () => {
    const http = fakeHttp(() => ({ status: 400, body: { error: 'etcdserver: permission denied', message: 'etcdserver: permission denied', code: 7 } }));
    await expect(etcdV3(http).get('/k')).rejects.toThrow('permission denied');
  });
});

describe('stand-in etcd v2 client', () => {
  it('watch: one long poll per event, each from the last modifiedIndex + 1; delete/expire are deletions; 401 asks for a list', async () => {
    const answers = [
      { action: 'set', node: { key: '/p/subnets/10.1.2.0-24', value: '{"PublicIP":"10.0.0.2"}', modifiedIndex: 8 } },
      { action: 'expire', node: { key: '/p/subnets/10.1.3.0-24', modifiedIndex: 9 } },
      { errorCode: 401, message: 'The event in requested index is outdated and cleared', index: 2000 },
    ];
    const paths: string[] = [];
    const http: HttpClient = {
      request: async () => ({ status: 500, body: '' }),
      stream(path, _body, _headers, h, method) {
        paths.push(`${method} ${path}`);
        const a = answers.shift();
        queueMicrotask(() => {
          if (a) h.line(JSON.stringify(a));
          h.end();
        });
        return { close() {} };
      },
      close() {},
    };
    const responses: unknown[] = [];
    const errors: Array<[string, number | undefined]> = [];
    const w = etcdV2(http).watch!('/p/subnets', 7, { response: (ev) => responses.push(...ev), error: (e, c) => errors.push([e.message, c]) });
    await vi.waitFor(() => expect(errors).toHaveLength(1));
    w.close();
    expect(paths).toEqual([
      'GET /v2/keys/p/subnets?wait=true&recursive=true&waitIndex=7',
      'GET /v2/keys/p/subnets?wait=true&recursive=true&waitIndex=9',
      'GET /v2/keys/p/subnets?wait=true&recursive=true&waitIndex=10',
    ]);
    expect(responses).toEqual([
      { type: 'put', key: '/p/subnets/10.1.2.0-24', value: '{"PublicIP":"10.0.0.2"}', revision: 8 },
      { type: 'delete', key: '/p/subnets/10.1.3.0-24', value: '', revision: 9 },
    ]);
    expect(errors[0]).toEqual(['401: The event in requested index is outdated and cleared (watch)', 2000]);
  });

  it('listAt: the entries and X-Etcd-Index (also for a missing directory)', async () => {
    const http: HttpClient = {
      async request(_m, path) {
        return path.includes('none')
          ? { status: 404, body: JSON.stringify({ errorCode: 100, message: 'Key not found', index: 12 }), headers: { 'x-etcd-index': '12' } }
          : { status: 200, body: JSON.stringify({ node: { dir: true, nodes: [{ key: '/p/subnets/10.1.2.0-24', value: 'v', modifiedIndex: 5 }] } }), headers: { 'x-etcd-index': '11' } };
      },
      stream: () => ({ close() {} }),
      close() {},
    };
    expect(await etcdV2(http).listAt!('/p/subnets')).toEqual({ entries: [{ key: '/p/subnets/10.1.2.0-24', value: 'v', revision: 5 }], revision: 11 });
    expect(await etcdV2(http).listAt!('/p/none')).toEqual({ entries: [], revision: 12 });
  });

  it('creates with prevExist=false and ttl=86400, 105 means taken', async () => {
    let n = 0;
    const http = fakeHttp(() => (n++ === 0 ? { status: 201, body: { node: {} } } : { status: 412, body: { errorCode: 105, message: 'Key already exists' } }));
    const reg = etcdV2(http);
    expect(await reg.create('/coreos.com/network/subnets/10.1.2.0-24', '{"a":1}', 86400)).toBe(true);
    expect(await reg.create('/coreos.com/network/subnets/10.1.2.0-24', '{"a":1}', 86400)).toBe(false);
    expect(http.calls[0]).toMatchObject({ method: 'PUT', path: '/v2/keys/coreos.com/network/subnets/10.1.2.0-24?prevExist=false' });
    expect(new URLSearchParams(http.calls[0].body)).toEqual(new URLSearchParams({ value: '{"a":1}', ttl: '86400' }));
  });

  it('treats errorCode 100 as a missing key and flattens recursive listings', async () => {
    const http = fakeHttp((c) =>
      c.path.includes('recursive')
        ? { status: 200, body: { node: { dir: true, nodes: [{ key: '/p/subnets/a', value: 'A' }, { key: '/p/subnets/d', dir: true, nodes: [{ key: '/p/subnets/d/b', value: 'B' }] }] } } }
        : { status: 404, body: { errorCode: 100, message: 'Key not found' } },
    );
    const reg = etcdV2(http);
    expect(await reg.get('/p/config')).toBeUndefined();
    expect(await reg.list('/p/subnets')).toEqual([{ key: '/p/subnets/a', value: 'A' }, { key: '/p/subnets/d/b', value: 'B' }]);
  });
});

/** An in-memory Registry recording what the lease manager does. */
function memoryRegistry(initial: Record<string, string> = {}): Registry & { data: Map<string, string>; ops: string[] } {
  const data = new Map(Object.entries(initial));
  const ops: string[] = [];
  return {
    api: 'v3', data, ops,
    async get(k) { return data.get(k); },
    async list(dir) { return [...data].filter(([k]) => k.startsWith(dir + '/')).map(([key, value]) => ({ key, value })); },
    async create(k, v, ttl) { ops.push(`create ${k} ${ttl}`); if (data.has(k)) return false; data.set(k, v); return true; },
    async renew(k, v, ttl) { ops.push(`renew ${k} ${ttl}`); data.set(k, v); },
    async delete(k) { ops.push(`delete ${k}`); data.delete(k); },
  };
}

describe('stand-in lease acquisition', () => {
  const cfg = parseNetworkConfig('{"Network":"10.244.0.0/16","Backend":{"Type":"vxlan"}}');
  const attrs = { publicIp: '10.0.0.2', backendType: 'vxlan', vxlan: { vni: 1, vtepMac: '02:00:00:00:00:01' } };
  const base = { prefix: '/coreos.com/network', flavour: 'v0.20' as const, cfg, attrs, log: quiet };

  it('re-puts our existing lease with the new attributes and a fresh 24 h TTL', async () => {
    const key = '/coreos.com/network/subnets/10.244.7.0-24';
    const reg = memoryRegistry({ [key]: '{"PublicIP":"10.0.0.2","PublicIPv6":null,"BackendType":"host-gw"}' });
    const own = await acquireLease(reg, base);
    expect(formatNet4(own.subnet)).toBe('10.244.7.0/24');
    expect(reg.ops).toEqual([`renew ${key} 86400`]);
    expect(JSON.parse(reg.data.get(key)!)).toEqual({ PublicIP: '10.0.0.2', PublicIPv6: null, BackendType: 'vxlan', BackendData: { VNI: 1, VtepMAC: '02:00:00:00:00:01' } });
  });

  it('deletes our lease when it does not fit, then creates a new one with compare-and-set', async () => {
    const old = '/coreos.com/network/subnets/10.244.7.0-25';
    const reg = memoryRegistry({ [old]: '{"PublicIP":"10.0.0.2"}' });
    const own = await acquireLease(reg, { ...base, previous: parseNet4('10.244.9.1/24') as Net4 });
    expect(formatNet4(own.subnet)).toBe('10.244.9.0/24');
    expect(reg.ops).toEqual([`delete ${old}`, 'create /coreos.com/network/subnets/10.244.9.0-24 86400']);
  });

  it('fails with "subnet already exists" when another node wins the race', async () => {
    const reg = memoryRegistry();
    const racing: Registry = { ...reg, create: async () => false };
    await expect(acquireLease(racing, base)).rejects.toThrow(new LeaseError('failed to acquire lease: subnet already exists'));
  });
});

describe('stand-in lease renewal and watch', () => {
  it('renews at expiry − margin with a fresh 24 h TTL and retries every minute on failure', async () => {
    vi.useFakeTimers();
    try {
      const reg = memoryRegistry();
      let fail = 1;
      const renew = reg.renew;
      reg.renew = async (k, v, ttl) => {
        if (fail-- > 0) throw new Error('etcd down');
        return renew(k, v, ttl);
      };
      const own = { key: '/p/subnets/10.1.2.0-24', subnet: parseNet4('10.1.2.0/24') as Net4, value: 'v', expiresAt: Date.now() + 86_400_000, listed: [] };
      const stop = startRenewal(reg, own, 60, quiet);
      await vi.advanceTimersByTimeAsync(23 * 3600_000 - 1000);
      expect(reg.ops).toEqual([]);
      await vi.advanceTimersByTimeAsync(1000); // 23 h: first attempt fails
      expect(reg.ops).toEqual([]);
      await vi.advanceTimersByTimeAsync(60_000); // retried a minute later
      expect(reg.ops).toEqual(['renew /p/subnets/10.1.2.0-24 86400']);
      stop();
    } finally {
      vi.useRealTimers();
    }
  });

  it('reports peers added and removed, and revocation when our own key goes', async () => {
    const own = '/coreos.com/network/subnets/10.244.1.0-24';
    const peer = '/coreos.com/network/subnets/10.244.2.0-24';
    const reg = memoryRegistry({
      [own]: '{"PublicIP":"10.0.0.1","BackendType":"vxlan"}',
      [peer]: '{"PublicIP":"10.0.0.2","BackendType":"vxlan","BackendData":{"VNI":1,"VtepMAC":"02:00:00:00:00:02"}}',
    });
    const events: string[] = [];
    let revoked!: () => void;
    const done = new Promise<void>((r) => (revoked = r));
    const stop = watchLeases(reg, { prefix: '/coreos.com/network', ownKey: own, pollMs: 5, log: quiet }, {
      onAdd: async (l) => void events.push(`add ${formatNet4(l.subnet)} ${l.vtepMac}`),
      onRemove: async (l) => void events.push(`remove ${formatNet4(l.subnet)}`),
      onRevoked: () => (events.push('revoked'), revoked()),
    });
    await vi.waitFor(() => expect(events).toEqual(['add 10.244.2.0/24 02:00:00:00:00:02']));
    reg.data.delete(peer);
    await vi.waitFor(() => expect(events).toContain('remove 10.244.2.0/24'));
    reg.data.delete(own);
    await done;
    stop();
    expect(events).toEqual(['add 10.244.2.0/24 02:00:00:00:00:02', 'remove 10.244.2.0/24', 'revoked']);
  });
});
