/**
 * The Kv seam and `network-config --apply` against a real etcd (TLS, --client-cert-auth, --enable-v2)
 * started by the test on 127.0.0.1; values read back with etcdctl (v3 and v2).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startEtcd, freePort, type TestEtcd } from '../helpers/etcd.js';
import { etcd3Kv, v2Kv } from '../../src/kv/index.js';
import { EtcdError } from '../../src/errors.js';
import { ensureCa, issueCert } from '../../src/pki/index.js';
import { readFileSync } from 'node:fs';
import { stringify } from 'yaml';
import { networkConfigText } from '../../src/model/flannel-config.js';
import { parseInventory } from '../../src/model/inventory.js';
import { cli } from '../helpers/cli.js';


let etcd: TestEtcd;
let work: string;
const tlsOf = (t: TestEtcd['tls']) => ({ ca: readFileSync(t.ca), cert: readFileSync(t.cert), key: readFileSync(t.key) });

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'flanctl-kvtest-'));
  etcd = await startEtcd();
});
afterAll(async () => {
  await etcd?.stop();
  if (work) rmSync(work, { recursive: true, force: true });
});

/** An inventory for the test etcd; pki.dir is the etcd's pki dir (its CA + flanneld client cert). */
function writeInventory(name: string, over: { api: 'v3' | 'v2'; prefix: string; backend?: Record<string, unknown>; endpoints?: string[]; certFile?: string; keyFile?: string }): string {
  const file = join(work, `${name}.yaml`);
  writeFileSync(file, stringify({
    network: { cidr: '10.244.0.0/16', backend: over.backend ?? { type: 'vxlan' } },
    etcd: { endpoints: over.endpoints ?? etcd.endpoints, prefix: over.prefix, api: over.api, ...(over.certFile ? { certFile: over.certFile, keyFile: over.keyFile } : {}) },
    pki: { dir: etcd.pkiDir },
    flannel: { tarball: 'flannel.tar.gz' },
    nodes: [{ name: 'node1', host: '10.77.0.11' }],
  }));
  return file;
}

async function readBack(api: 'v3' | 'v2', key: string): Promise<{ value: string; revision: number }> {
  if (api === 'v3') {
    const r = await etcd.etcdctl(['get', key, '-w', 'json']);
    expect(r.code, r.stderr).toBe(0);
    const j = JSON.parse(r.stdout);
    return { value: Buffer.from(j.kvs[0].value, 'base64').toString(), revision: Number(j.kvs[0].mod_revision) };
  }
  const r = await etcd.etcdctl(['-o', 'json', 'get', key], 2);
  expect(r.code, r.stderr).toBe(0);
  const j = JSON.parse(r.stdout);
  return { value: j.node.value, revision: Number(j.node.modifiedIndex) };
}

describe('flanctl network-config --apply against a real etcd', () => {
  for (const api of ['v3', 'v2'] as const) {
    it(`${api}: writes <prefix>/config, etcdctl reads it back, a second apply writes nothing`, async () => {
      const prefix = `/apply-${api}/network`;
      const file = writeInventory(`apply-${api}`, { api, prefix });
      const { inventory } = await parseInventory(readFileSync(file, 'utf8'), file);

      const first = await cli(['network-config', '--apply', '-i', file]);
      expect(first.code, first.stderr).toBe(0);
      expect(first.stdout).toMatch(new RegExp(`${prefix}/config \\(etcd ${api} .*\\): written`));
      expect(first.stdout).toMatch(/\+ +"Network": "10\.244\.0\.0\/16"/);
      const stored = await readBack(api, `${prefix}/config`);
      expect(stored.value).toBe(networkConfigText(inventory));

      const second = await cli(['network-config', '--apply', '-i', file, '--json']);
      expect(second.code, second.stderr).toBe(0);
      expect(JSON.parse(second.stdout)).toMatchObject({ changed: false, api, before: networkConfigText(inventory) });
      expect((await readBack(api, `${prefix}/config`)).revision).toBe(stored.revision);

      const check = await cli(['network-config', '--check', '-i', file]);
      expect(check.code).toBe(0);
      expect(check.stdout).toMatch(/in sync/);

      const hostGw = writeInventory(`apply-${api}-hostgw`, { api, prefix, backend: { type: 'host-gw' } });
      const drift = await cli(['network-config', '--check', '-i', hostGw]);
      expect(drift.code).toBe(3);
      expect(drift.stdout).toMatch(/-\s+"Type": "vxlan"/);
      expect(drift.stdout).toMatch(/\+\s+"Type": "host-gw"/);
      expect((await readBack(api, `${prefix}/config`)).revision).toBe(stored.revision);

      const change = await cli(['network-config', '--apply', '-i', hostGw]);
      expect(change.code).toBe(0);
      expect(JSON.parse((await readBack(api, `${prefix}/config`)).value).Backend).toEqual({ Type: 'host-gw' });
    });

    it(`${api}: a client cert from another CA is refused: exit 1 and a clear message`, async () => {
      const other = join(work, `other-ca-${api}`);
      await ensureCa(other, { cn: 'other-ca', expiry: '87600h' });
      const c = await issueCert({ caDir: other, outDir: other, name: 'flanneld', cn: 'flanneld', key: { algo: 'rsa', size: 2048 }, expiry: '8760h', usage: 'client' });
      const file = writeInventory(`foreign-${api}`, { api, prefix: '/foreign/network', certFile: c.certFile, keyFile: c.keyFile });
      const run = await cli(['network-config', '--apply', '-i', file]);
      expect(run.code).toBe(1);
      expect(run.stderr).toContain(etcd.endpoint);
      expect(run.stderr).toMatch(/refused flanctl's client certificate/);
      expect(run.stderr).toMatch(/flanctl certs check/);
      expect(run.stderr).not.toMatch(/\n\s+at /);
    });

    it(`${api}: an unreachable endpoint fails fast: exit 1 and a clear message`, async () => {
      const dead = `https://127.0.0.1:${await freePort()}`;
      const file = writeInventory(`dead-${api}`, { api, prefix: '/dead/network', endpoints: [dead] });
      const run = await cli(['network-config', '--apply', '-i', file]);
      expect(run.code).toBe(1);
      expect(run.stderr).toContain(dead);
      expect(run.stderr).toMatch(/unreachable/);
    }, 60_000);
  }
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

  it('v3: list reports the TTL of a key attached to a lease when asked (one lease look-up each), and only then', async () => {
    const r = await etcd.etcdctl(['lease', 'grant', '600']);
    const id = /lease ([0-9a-f]+) granted/.exec(r.stdout)?.[1];
    expect(id).toBeDefined();
    expect((await etcd.etcdctl(['put', '--lease', id!, '/ttl/subnets/10.9.1.0-24', 'x'])).code).toBe(0);
    const kv = etcd3Kv({ endpoints: etcd.endpoints, tls: tlsOf(etcd.tls) });
    try {
      const [entry] = await kv.list('/ttl/subnets/', { ttl: true });
      expect(entry.ttl).toBeGreaterThan(500);
      expect(entry.ttl).toBeLessThanOrEqual(600);
      const [plain] = await kv.list('/ttl/subnets/');
      expect(plain).toEqual({ key: '/ttl/subnets/10.9.1.0-24', value: 'x' });
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
