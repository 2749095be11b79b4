/**
 * The cluster lock (issue 10) against a real etcd (TLS, client-cert auth), both APIs: v3 through a
 * lease and a create-if-absent transaction, v2 through a TTL key with prevExist=false.
 */
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEtcd, type TestEtcd } from '../helpers/etcd.js';
import { etcd3Kv, v2Kv } from '../../src/kv/index.js';
import { acquireClusterLock, forceUnlock, lockKey, LockError } from '../../src/kv/lock.js';

let etcd: TestEtcd;
beforeAll(async () => {
  etcd = await startEtcd();
});
afterAll(async () => {
  await etcd?.stop();
});

describe('cluster lock on a real etcd', () => {
  for (const api of ['v3', 'v2'] as const) {
    it(`${api}: one holder at a time, renewed, released; a holder that stops renewing loses it to the TTL`, async () => {
      const make = api === 'v3' ? etcd3Kv : v2Kv;
      const tls = { ca: readFileSync(etcd.tls.ca), cert: readFileSync(etcd.tls.cert), key: readFileSync(etcd.tls.key) };
      const a = make({ endpoints: etcd.endpoints, tls });
      const b = make({ endpoints: etcd.endpoints, tls });
      const prefix = `/lock-${api}/network`;
      try {
        const held = await acquireClusterLock(a, prefix, 'bootstrap');
        const entry = (await b.list(`${prefix}/flanctl/`, { ttl: true }))[0];
        expect(entry.key).toBe(lockKey(prefix));
        expect(entry.ttl).toBeGreaterThan(0);
        expect(entry.ttl).toBeLessThanOrEqual(30);
        expect(JSON.parse(entry.value)).toMatchObject({ command: 'bootstrap', pid: process.pid });
        await expect(acquireClusterLock(b, prefix, 'reset')).rejects.toBeInstanceOf(LockError);
        const lease = await a.createLeased!(lockKey(prefix), 'x', 30);
        expect(lease).toBeUndefined(); // create-if-absent: the existing key is not overwritten
        await held.release();
        expect(await b.get(lockKey(prefix))).toBeUndefined();

        // A holder that dies: its short-lived key goes away by itself; renew keeps a live one.
        const live = await b.createLeased!(lockKey(prefix), 'live', 3);
        await live!.renew();
        await live!.release();
        const dead = await b.createLeased!(lockKey(prefix), 'dead', 2);
        expect(dead).toBeDefined();
        let gone = false;
        for (let i = 0; i < 40 && !gone; i++) {
          await new Promise((r) => setTimeout(r, 250));
          gone = (await a.get(lockKey(prefix))) === undefined;
        }
        expect(gone).toBe(true);
        const again = await acquireClusterLock(a, prefix, 'bootstrap');
        expect(await forceUnlock(b, prefix)).toMatchObject({ command: 'bootstrap' });
        await again.release(); // already removed by force: a no-op, not an error
      } finally {
        await a.close();
        await b.close();
      }
    });
  }
});
