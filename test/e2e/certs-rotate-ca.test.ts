/**
 * `certs rotate --ca` end to end on ONE lab of 2 nodes (issue 16 item 5), through the real CLI: the
 * lab's etcd is flanctl's (its server certificate and --trusted-ca-file come from pki.dir), so flanctl
 * moves it along. A first run stops in phase 1 at a broken batch and says where; the rerun continues
 * and finishes: verify green after every phase, the old CA on no node and refused by etcd, flanneld
 * kept its lease, a second bootstrap changes nothing. Root; must run under CI=true.
 */
import { X509Certificate } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { probeEtcdTls } from '../../src/kv/tls-probe.js';
import { loadInventory } from '../../src/model/inventory.js';
import { remotePaths } from '../../src/model/templates.js';
import { issueCert, pemBlocks } from '../../src/pki/index.js';
import { cli, repoRoot, showCli } from '../helpers/cli.js';
import { leasesOf, startLab, type TestLab } from '../helpers/lab.js';
import { describeRoot } from '../helpers/root.js';

describeRoot('certs rotate --ca on one lab (stand-in, etcd v3, supervisord)', () => {
  let lab: TestLab;
  let inventory: string;
  const pki = () => join(lab.dir, 'pki');
  const fingerprints = (pem: string) => pemBlocks(pem).map((b) => new X509Certificate(b).fingerprint256);

  beforeAll(async () => {
    if (!existsSync(join(repoRoot, 'dist/lab/etcd-owner.js'))) throw new Error('run `npm run build` first');
    lab = await startLab({ nodes: 2 });
    inventory = lab.inventoryPath;
    const r = await cli(['bootstrap', '-i', inventory, '--json']);
    expect(r.code, showCli(r)).toBe(0);
  });
  afterAll(async () => {
    await lab?.down();
  });

  it('refuses --ca (exit 2, nothing changed) when pki.dir holds the CA certificate but not its key', async () => {
    const foreign = join(lab.dir, 'foreign-pki');
    mkdirSync(foreign, { mode: 0o700 });
    for (const f of ['ca.pem', 'flanneld.pem', 'flanneld-key.pem']) copyFileSync(join(pki(), f), join(foreign, f));
    const inv2 = join(lab.dir, 'foreign.yaml');
    writeFileSync(inv2, readFileSync(inventory, 'utf8').replace(/^(\s*dir:\s*).*pki\s*$/m, `$1${foreign}`));
    expect((await loadInventory(inv2)).pki.dir).toBe(foreign);
    const r = await cli(['certs', 'rotate', '--ca', '-i', inv2]);
    expect(r.code, showCli(r)).toBe(2);
    expect(r.stderr).toMatch(/does not own the CA.*ca-key\.pem not found/);
    expect(existsSync(join(foreign, 'ca-rotation.json'))).toBe(false);
  });

  it('rotates the CA in three verified rolling phases; a broken batch stops it, the rerun continues; old CA gone from nodes and etcd; leases kept', async () => {
    const inv = await loadInventory(inventory);
    const paths = remotePaths(inv);
    const oldCa = fingerprints(readFileSync(join(pki(), 'ca.pem'), 'utf8'));
    expect(oldCa).toHaveLength(1);
    // The old CA's key, kept by the test only, to prove etcd refuses its clients at the end.
    const keep = join(lab.dir, 'old-ca');
    mkdirSync(keep, { mode: 0o700 });
    copyFileSync(join(pki(), 'ca.pem'), join(keep, 'ca.pem'));
    copyFileSync(join(pki(), 'ca-key.pem'), join(keep, 'ca-key.pem'));
    const leases = Object.fromEntries((await leasesOf(inv)).map((l) => [l.publicIp, l.subnet]));

    // node2's certificate directory is read-only: phase 1 stops at its batch.
    const dir = paths.ca.replace(/\/[^/]+$/, '');
    const ro = await lab.exec('node2', ['sh', '-c', `mount --bind ${dir} ${dir} && mount -o remount,bind,ro ${dir}`]);
    expect(ro.code, ro.stderr).toBe(0);
    const broken = await cli(['certs', 'rotate', '--ca', '-i', inventory, '--json']);
    await lab.exec('node2', ['umount', dir]);
    expect(broken.code, showCli(broken)).toBe(1);
    expect(broken.json.stopped).toMatchObject({ phase: 'trust', index: 1 });
    expect(broken.stderr).toMatch(/CA rotation stopped in phase 1\/3 \(trust\): rollout stopped at batch 2 \(node2\)/);
    expect(broken.stderr).toMatch(/continues with phase 1\/3/);
    expect(fingerprints((await lab.exec('node1', ['cat', paths.ca])).stdout)).toEqual([...oldCa, broken.json.ca.new.fingerprint256]);
    expect(fingerprints((await lab.exec('node2', ['cat', paths.ca])).stdout)).toEqual(oldCa);
    const mid = await cli(['verify', '-i', inventory]);
    expect(mid.code, showCli(mid)).toBe(0); // nothing disagrees mid-way

    const r = await cli(['certs', 'rotate', '--ca', '-i', inventory, '--json']);
    expect(r.code, showCli(r)).toBe(0);
    expect(r.json.resumed).toBe(true);
    expect(r.json.done).toBe(true);
    expect(r.json.phases.map((p: { phase: string; ok: boolean }) => [p.phase, p.ok])).toEqual([['trust', true], ['client', true], ['drop', true]]);
    for (const p of r.json.phases) {
      expect(p.report.verify.ok, p.phase).toBe(true);
      expect(p.report.summary.failed, p.phase).toBe(0);
      for (const b of p.report.rollout?.batches ?? []) expect(b.ok, `${p.phase} batch ${b.index}`).toBe(true);
    }
    expect(r.json.phases[0].report.rollout.batches.map((b: { nodes: string[] }) => b.nodes.join())).toEqual(['node2']); // node1 had it already
    expect(r.json.phases[1].report.rollout.batches.map((b: { nodes: string[] }) => b.nodes.join())).toEqual(['node1', 'node2']);
    expect(r.json.phases[1].etcd.join()).toMatch(/server certificate issued by the new CA/);
    expect(r.json.phases[2].etcd.join()).toMatch(/restarted; it trusts the new CA only/);
    expect(r.json.etcdTrustsOldCa).toBe(false);
    const newCa = r.json.ca.new.fingerprint256;
    expect(newCa).not.toBe(oldCa[0]);

    // The nodes trust the new CA only and hold a certificate it issued.
    for (const node of ['node1', 'node2']) {
      expect(fingerprints((await lab.exec(node, ['cat', paths.ca])).stdout), node).toEqual([newCa]);
      const cert = new X509Certificate((await lab.exec(node, ['cat', paths.cert])).stdout);
      expect(cert.checkIssued(new X509Certificate(readFileSync(join(pki(), 'ca.pem')))), node).toBe(true);
    }
    expect(fingerprints(readFileSync(join(pki(), 'ca.pem'), 'utf8'))).toEqual([newCa]);
    for (const gone of ['ca-rotation.json', 'ca-old-key.pem', 'ca-new-key.pem']) expect(existsSync(join(pki(), gone)), gone).toBe(false);
    // etcd refuses a client of the old CA and accepts one of the new CA.
    const probe = async (caDir: string) => {
      const c = await issueCert({ caDir, outDir: keep, name: `probe-${caDir === keep ? 'old' : 'new'}`, cn: 'probe', key: { algo: 'ecdsa', size: 256 }, expiry: '1h', usage: 'client' });
      return probeEtcdTls(lab.etcdEndpoint, { ca: readFileSync(join(pki(), 'ca.pem')), cert: readFileSync(c.certFile), key: readFileSync(c.keyFile) });
    };
    expect((await probe(keep)).ok).toBe(false);
    expect((await probe(pki())).ok).toBe(true);
    // flanneld kept its lease: same subnet per node.
    expect(Object.fromEntries((await leasesOf(await loadInventory(inventory))).map((l) => [l.publicIp, l.subnet]))).toEqual(leases);

    const v = await cli(['verify', '-i', inventory, '--json']);
    expect(v.code, showCli(v)).toBe(0);
    const check = await cli(['certs', 'check', '-i', inventory]);
    expect(check.code, showCli(check)).toBe(0);
    const again = await cli(['bootstrap', '-i', inventory, '--json', '--no-verify']);
    expect(again.code, showCli(again)).toBe(0);
    expect(again.json.summary).toMatchObject({ changed: 0, restarts: 0, failed: 0 });
  });
});
