import { describe, expect, it } from 'vitest';
import { memoryKv } from '../../src/kv/memory.js';
import { classify, cleanDetail, etcdFailure } from '../../src/kv/errors.js';
import { EtcdError } from '../../src/errors.js';
import { listLeases } from '../../src/kv/flannel-keys.js';


describe('memoryKv', () => {
  it('gets, puts, lists by prefix in key order, deletes, and records writes', async () => {
    const kv = memoryKv({ '/p/subnets/10.1.2.0-24': '{"PublicIP":"10.77.0.12"}', '/p/config': '{}' });
    kv.ttls.set('/p/subnets/10.1.2.0-24', 80000);
    await kv.put('/p/subnets/10.1.1.0-24', '{"PublicIP":"10.77.0.11","BackendType":"vxlan"}');
    expect((await kv.list('/p/subnets/')).map((e) => [e.key, e.ttl])).toEqual([
      ['/p/subnets/10.1.1.0-24', undefined],
      ['/p/subnets/10.1.2.0-24', 80000],
    ]);
    const leases = await listLeases(kv, '/p');
    expect(leases.map((l) => [l.subnet, l.publicIp, l.ttl])).toEqual([['10.1.1.0/24', '10.77.0.11', undefined], ['10.1.2.0/24', '10.77.0.12', 80000]]);
    expect(await kv.delete('/p/config')).toBe(true);
    expect(await kv.delete('/p/config')).toBe(false);
    expect(await kv.get('/p/config')).toBeUndefined();
    expect(kv.writes.map((w) => w[0])).toEqual(['put', 'delete', 'delete']);
  });

  it('fails on demand', async () => {
    const kv = memoryKv();
    kv.failWith(new EtcdError('down'));
    await expect(kv.get('/x')).rejects.toThrow('down');
    kv.failWith(undefined);
    expect(await kv.get('/x')).toBeUndefined();
  });
});

describe('etcd failures become clear EtcdErrors', () => {
  // Messages as grpc-js and node's TLS report them against a real etcd 3.4 (see test/integration/etcd-kv.test.ts).
  const cases: [string, Error, ReturnType<typeof classify>, RegExp][] = [
    ['client cert rejected (v3)', new Error('14 UNAVAILABLE: No connection established. Last error: 80BC8D368C7F0000:error:0A000412:SSL routines:ssl3_read_bytes:sslv3 alert bad certificate:../deps/openssl/openssl/ssl/record/rec_layer_s3.c:1601:SSL alert number 42. Resolution note: '), 'client-rejected', /refused flanctl's client certificate .*\(sslv3 alert bad certificate\)/],
    ['server untrusted (v2)', Object.assign(new Error('unable to verify the first certificate'), { code: 'UNABLE_TO_VERIFY_LEAF_SIGNATURE' }), 'server-untrusted', /server certificate is not trusted/],
    ['connection refused (v3)', new Error('14 UNAVAILABLE: No connection established. Last error: Error: connect ECONNREFUSED 127.0.0.1:2379. Resolution note: '), 'unreachable', /unreachable during get \/x \(connect ECONNREFUSED 127\.0\.0\.1:2379\)/],
    ['timeout (v2)', Object.assign(new Error('timed out after 5000 ms'), { code: 'ETIMEDOUT' }), 'unreachable', /unreachable/],
    ['deadline (v3)', new Error('4 DEADLINE_EXCEEDED: Deadline exceeded'), 'unreachable', /unreachable/],
    ['something else', new Error('etcdserver: request too large'), 'other', /get \/x failed \(etcdserver: request too large\)/],
  ];
  it.each(cases)('%s', (_what, err, kind, message) => {
    expect(classify(err)).toBe(kind);
    const e = etcdFailure('v3', ['https://10.0.0.5:2379'], 'get /x', err, { ca: '/p/ca.pem', cert: '/p/flanneld.pem', key: '/p/flanneld-key.pem' });
    expect(e).toBeInstanceOf(EtcdError);
    expect(e.exitCode).toBe(1);
    expect(e.message).toContain('https://10.0.0.5:2379');
    expect(e.message).toMatch(message);
    expect(e.hint).toMatch(/flanctl certs check/);
  });

  it('keeps an EtcdError as it is and trims gRPC wrapping', () => {
    const orig = new EtcdError('already clear');
    expect(etcdFailure('v2', ['x'], 'op', orig)).toBe(orig);
    expect(cleanDetail(new Error('14 UNAVAILABLE: No connection established. Last error: Error: connect ECONNREFUSED 1.2.3.4:1. Resolution note: x'))).toBe('connect ECONNREFUSED 1.2.3.4:1');
  });
});
