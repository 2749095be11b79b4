/**
 * The Kv seam and `network-config --apply` against a real etcd (TLS, --client-cert-auth, --enable-v2)
 * started by the test on 127.0.0.1; values read back with etcdctl (v3 and v2).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startEtcd, freePort, type TestEtcd } from '../helpers/etcd.js';
import { etcd3Kv, v2Kv, openKv } from '../../src/kv/index.js';
import { EtcdError } from '../../src/errors.js';
import { ensureCa, issueCert } from '../../src/pki.js';
import { readFileSync } from 'node:fs';

let etcd: TestEtcd;
const tlsOf = (t: TestEtcd['tls']) => ({ ca: readFileSync(t.ca), cert: readFileSync(t.cert), key: readFileSync(t.key) });

beforeAll(async () => {
  etcd = await startEtcd();
});
afterAll(async () => {
  await etcd?.stop();
});

describe('kv against a real etcd', () => {
  for (const api of ['v3', 'v2'] as const) {
    it(`${api}: put/get/list/delete with TTLs`, async () => {
      const make = api === 'v3' ? etcd3Kv : v2Kv;
      const kv = make({ endpoints: etcd.endpoints, tls: tlsOf(etcd.tls) });
      try {
        const p = `/t-${api}/network`;
        expect(await kv.get(`${p}/config`)).toBeUndefined();
        await kv.put(`${p}/config`, '{"Network":"10.1.0.0/16"}');
        await kv.put(`${p}/subnets/10.1.5.0-24`, '{"PublicIP":"1.2.3.4"}');
        expect(await kv.get(`${p}/config`)).toBe('{"Network":"10.1.0.0/16"}');
        const list = await kv.list(`${p}/`);
        expect(list.map((e) => e.key)).toEqual([`${p}/config`, `${p}/subnets/10.1.5.0-24`]);
        expect(list.every((e) => e.ttl === undefined)).toBe(true);
        expect(await kv.delete(`${p}/config`)).toBe(true);
        expect(await kv.delete(`${p}/config`)).toBe(false);
        expect(await kv.list(`${p}/nothing/`)).toEqual([]);
      } finally {
        await kv.close();
      }
    });
  }

  it('v3: list reports the TTL of a key attached to a lease', async () => {
    const r = await etcd.etcdctl(['lease', 'grant', '600']);
    const id = /lease ([0-9a-f]+) granted/.exec(r.stdout)?.[1];
    expect(id).toBeDefined();
    expect((await etcd.etcdctl(['put', '--lease', id!, '/ttl/subnets/10.9.1.0-24', 'x'])).code).toBe(0);
    const kv = etcd3Kv({ endpoints: etcd.endpoints, tls: tlsOf(etcd.tls) });
    try {
      const [entry] = await kv.list('/ttl/subnets/');
      expect(entry.ttl).toBeGreaterThan(500);
      expect(entry.ttl).toBeLessThanOrEqual(600);
    } finally {
      await kv.close();
    }
  });

  it('v2: list reports the TTL of a key set with --ttl', async () => {
    expect((await etcd.etcdctl(['set', '--ttl', '600', '/ttl2/subnets/10.9.1.0-24', 'x'], 2)).code).toBe(0);
    const kv = v2Kv({ endpoints: etcd.endpoints, tls: tlsOf(etcd.tls) });
    const [entry] = await kv.list('/ttl2/subnets/');
    expect(entry.ttl).toBeGreaterThan(500);
  });

  for (const api of ['v3', 'v2'] as const) {
    it(`${api}: a client cert from another CA is refused with a clear EtcdError`, async () => {
      const other = mkdtempSync(join(tmpdir(), 'flanctl-otherca-'));
      try {
        await ensureCa(other, { cn: 'other-ca', expiry: '87600h' });
        const c = await issueCert({ caDir: other, outDir: other, name: 'flanneld', cn: 'flanneld', key: { algo: 'rsa', size: 2048 }, expiry: '8760h', usage: 'client' });
        const tls = { ca: readFileSync(etcd.tls.ca), cert: readFileSync(c.certFile), key: readFileSync(c.keyFile) };
        const kv = (api === 'v3' ? etcd3Kv : v2Kv)({ endpoints: etcd.endpoints, tls });
        const err = await kv.get('/x').catch((e) => e);
        await kv.close();
        expect(err).toBeInstanceOf(EtcdError);
        expect(err.message).toContain(etcd.endpoint);
        expect(err.message).toMatch(/refused flanctl's client certificate/);
        expect(err.hint).toContain('flanctl certs check');
      } finally {
        rmSync(other, { recursive: true, force: true });
      }
    });

    it(`${api}: an unreachable endpoint fails fast with a clear EtcdError`, async () => {
      const dead = `https://127.0.0.1:${await freePort()}`;
      const kv = (api === 'v3' ? etcd3Kv : v2Kv)({ endpoints: [dead], tls: tlsOf(etcd.tls), timeoutMs: 3000 });
      const err = await kv.get('/x').catch((e) => e);
      await kv.close();
      expect(err).toBeInstanceOf(EtcdError);
      expect(err.message).toContain(dead);
      expect(err.message).toMatch(/unreachable/);
    }, 30_000);
  }
});
