/**
 * `certs rotate --ca` phase logic (issue 16 item 5) on a real pki dir, with the rolling bootstrap and
 * the TLS handshakes replaced: a model etcd that trusts a set of CAs for clients and presents a server
 * certificate from one CA. Checks what ca.pem / ca-key.pem / flanneld.pem hold at each phase's rollout,
 * the stops (and the operator's steps) where etcd's side is not ready, resuming, and the refusals.
 */
import { X509Certificate } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, unlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { rotateCa, type EtcdTlsOwner, type RotateCaOptions } from '../../src/bootstrap/certs-rotate-ca.js';
import { rotateCerts } from '../../src/bootstrap/certs-rotate.js';
import type { BootstrapResult } from '../../src/bootstrap/bootstrap.js';
import { UsageError } from '../../src/errors.js';
import type { Inventory } from '../../src/model/inventory.js';
import { applyCaPhase, ensureFlanneldCert, pemBlocks, readCaRotation } from '../../src/pki/index.js';
import { load } from './foundation-fixture.js';

let dir: string;
let inv: Inventory;
beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'flanctl-rotca-'));
  inv = await load({ pki: { dir, ca: { cn: 'flannel-ca', expiry: '87600h' }, flanneld: { cn: 'flanneld', key: { algo: 'ecdsa' } } } });
  await ensureFlanneldCert(inv);
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const fp = (pem: string | Buffer) => new X509Certificate(pem).fingerprint256;
const caBlocks = () => pemBlocks(readFileSync(join(dir, 'ca.pem'), 'utf8')).map(fp);
const issuerOfFlanneld = () => {
  const cert = new X509Certificate(readFileSync(join(dir, 'flanneld.pem')));
  return pemBlocks(readFileSync(join(dir, 'ca.pem'), 'utf8')).map((b) => new X509Certificate(b)).find((c) => cert.checkIssued(c) && cert.verify(c.publicKey))?.fingerprint256;
};

/** A model etcd: client CAs it trusts (fingerprints + certs) and the CA of its server certificate. */
function modelEtcd() {
  const first = readFileSync(join(dir, 'ca.pem'), 'utf8');
  const etcd = { trusted: [first], serverCa: first };
  const probe: RotateCaOptions['probe'] = async (endpoint, tls) => {
    const client = new X509Certificate(tls.cert);
    const clientOk = etcd.trusted.flatMap(pemBlocks).some((b) => { const c = new X509Certificate(b); return client.checkIssued(c) && client.verify(c.publicKey); });
    const serverOk = pemBlocks(tls.ca.toString()).map(fp).includes(fp(etcd.serverCa));
    if (!serverOk) return { endpoint, ok: false, error: "etcd's server certificate is not trusted" };
    return clientOk ? { endpoint, ok: true } : { endpoint, ok: false, error: 'etcd rejected the client certificate' };
  };
  const owner: EtcdTlsOwner = {
    name: 'model etcd',
    reloadTrust: async () => { etcd.trusted = [readFileSync(join(dir, 'ca.pem'), 'utf8')]; },
    reissueServerCert: async () => { etcd.serverCa = pemBlocks(readFileSync(join(dir, 'ca.pem'), 'utf8'))[0]; },
  };
  return { etcd, probe, owner };
}

interface Seen { command: string; ca: string[]; issuer?: string; key: string }
function fakeBootstrap(seen: Seen[], fail?: (n: number) => Partial<BootstrapResult> | undefined): RotateCaOptions['bootstrap'] {
  return async (_inv, opts) => {
    seen.push({ command: opts.command, ca: caBlocks(), issuer: issuerOfFlanneld(), key: readFileSync(join(dir, 'ca-key.pem'), 'utf8') });
    const base = { command: opts.command, mode: 'apply', targets: [], summary: { targets: 3, changed: 6, unchanged: 0, failed: 0, restarts: 3 }, durationMs: 1,
      verify: { ok: true, pairs: [], checks: [] } } as unknown as BootstrapResult;
    return { ...base, ...fail?.(seen.length) };
  };
}

describe('certs rotate --ca', () => {
  it('with flanctl managing etcd (the lab): trust old+new, then a client cert from the new CA, then the old CA dropped; keys 0600, the old key deleted', async () => {
    const oldCa = caBlocks()[0];
    const oldKey = readFileSync(join(dir, 'ca-key.pem'), 'utf8');
    const m = modelEtcd();
    const seen: Seen[] = [];
    const r = await rotateCa(inv, { etcdOwner: m.owner, probe: m.probe, bootstrap: fakeBootstrap(seen) });
    expect(r.done).toBe(true);
    expect(r.stopped).toBeUndefined();
    expect(r.phases.map((p) => [p.phase, p.ok])).toEqual([['trust', true], ['client', true], ['drop', true]]);
    const newCa = r.ca.new.fingerprint256;
    expect(r.ca.old.fingerprint256).toBe(oldCa);
    // Phase 1: nodes get old + new, flanneld's certificate is still the old CA's.
    expect(seen[0]).toMatchObject({ ca: [oldCa, newCa], issuer: oldCa, key: oldKey });
    // Phase 2: the new CA signs (first in ca.pem), the old one still trusted.
    expect(seen[1]).toMatchObject({ ca: [newCa, oldCa], issuer: newCa });
    expect(seen[1].key).not.toBe(oldKey);
    // Phase 3: the new CA only.
    expect(seen[2]).toMatchObject({ ca: [newCa], issuer: newCa });
    expect(seen.map((s) => s.command)).toEqual(['certs rotate --ca (phase 1/3)', 'certs rotate --ca (phase 2/3)', 'certs rotate --ca (phase 3/3)']);
    expect(r.phases[0].etcd.join()).toMatch(/restarted/);
    expect(r.etcdTrustsOldCa).toBe(false);
    expect(r.operatorSteps).toEqual([]);
    expect(caBlocks()).toEqual([newCa]);
    expect(new X509Certificate(readFileSync(join(dir, 'ca.pem'))).checkPrivateKey((await import('node:crypto')).createPrivateKey(readFileSync(join(dir, 'ca-key.pem'))))).toBe(true);
    expect(statSync(join(dir, 'ca-key.pem')).mode & 0o777).toBe(0o600);
    for (const gone of ['ca-rotation.json', 'ca-old-key.pem', 'ca-new-key.pem', 'ca-new.pem']) expect(existsSync(join(dir, gone)), gone).toBe(false);
    expect(fp(readFileSync(join(dir, 'ca-old.pem')))).toBe(oldCa);
    expect(JSON.stringify(r)).not.toMatch(/PRIVATE KEY/);
  });

  it('with an etcd flanctl does not manage: stops before phase 2 and before phase 3 with the exact steps; each rerun continues where it stopped', async () => {
    const m = modelEtcd();
    const seen: Seen[] = [];
    const opts = { probe: m.probe, bootstrap: fakeBootstrap(seen), rerun: 'flanctl certs rotate --ca -i inv.yaml' };
    const first = await rotateCa(inv, opts);
    expect(first.done).toBe(false);
    expect(first.stopped).toMatchObject({ phase: 'trust', index: 1 });
    expect(first.stopped!.reason).toMatch(/does not accept client certificates from the new CA.*rejected the client certificate/);
    expect(first.stopped!.steps.join('\n')).toContain(join(dir, 'ca-new.pem'));
    expect(first.stopped!.steps.join('\n')).toContain('--trusted-ca-file');
    expect(first.stopped!.steps.join('\n')).toContain('flanctl certs rotate --ca -i inv.yaml');
    expect(readCaRotation(dir)?.phase).toBe('trust');
    expect(seen[0].issuer).toBe(first.ca.old.fingerprint256); // no client certificate from the new CA yet

    const still = await rotateCa(inv, opts);
    expect(still.resumed).toBe(true);
    expect(still.stopped?.phase).toBe('trust');

    m.etcd.trusted.push(readFileSync(join(dir, 'ca-new.pem'), 'utf8')); // the operator's step 1
    const second = await rotateCa(inv, opts);
    expect(second.phases.map((p) => [p.phase, p.ok])).toEqual([['trust', true], ['client', false]]);
    expect(second.stopped).toMatchObject({ phase: 'client', index: 2 });
    expect(second.stopped!.reason).toMatch(/server certificate does not chain to the new CA/);
    expect(second.stopped!.steps.join('\n')).toMatch(/openssl x509 -req .*-CA .*ca\.pem -CAkey .*ca-key\.pem/);
    expect(second.stopped!.steps.join('\n')).toContain('subjectAltName=IP:10.77.0.1');
    expect(caBlocks()).toHaveLength(2); // the old CA is still trusted by the nodes

    m.etcd.serverCa = readFileSync(join(dir, 'ca-new.pem'), 'utf8'); // the operator's step 2
    const third = await rotateCa(inv, opts);
    expect(third.phases.map((p) => [p.phase, p.ok])).toEqual([['client', true], ['drop', true]]);
    expect(third.done).toBe(true);
    expect(third.etcdTrustsOldCa).toBe(true);
    expect(third.operatorSteps.join('\n')).toMatch(/remove the old CA .*ca-old\.pem.* --trusted-ca-file/);
    expect(caBlocks()).toEqual([third.ca.new.fingerprint256]);
  });

  it('a failed batch stops the phase; the rerun repeats that phase, not the earlier ones', async () => {
    const m = modelEtcd();
    const seen: Seen[] = [];
    const stopped = { batch: 2, nodes: ['node2'], untouched: [], reason: 'node2: flanneld did not come back' };
    const r = await rotateCa(inv, { etcdOwner: m.owner, probe: m.probe, bootstrap: fakeBootstrap(seen, (n) => (n === 2 ? { rollout: { batchSize: 1, batches: [], stopped } } : undefined)) });
    expect(r.stopped).toMatchObject({ phase: 'client', index: 2 });
    expect(r.stopped!.reason).toContain('rollout stopped at batch 2 (node2): node2: flanneld did not come back');
    expect(r.stopped!.steps.join()).toMatch(/continues with phase 2\/3/);
    const again = await rotateCa(inv, { etcdOwner: m.owner, probe: m.probe, bootstrap: fakeBootstrap(seen) });
    expect(again.resumed).toBe(true);
    expect(again.phases.map((p) => p.phase)).toEqual(['client', 'drop']);
    expect(again.done).toBe(true);
  });

  it('a run interrupted between writing ca-key.pem and ca.pem is repaired from the recorded phase', async () => {
    const m = modelEtcd();
    await rotateCa(inv, { probe: m.probe, bootstrap: fakeBootstrap([]) }); // stops in phase 1
    const st = readCaRotation(dir)!;
    const trustCa = readFileSync(join(dir, 'ca.pem'), 'utf8');
    await applyCaPhase(dir, { ...st, phase: 'client' }); // as if the phase had moved on...
    await import('node:fs/promises').then((f) => f.writeFile(join(dir, 'ca.pem'), trustCa)); // ...but only the key was written
    expect(await applyCaPhase(dir, { ...st, phase: 'client' })).toBe(true);
    const cert = new X509Certificate(readFileSync(join(dir, 'ca.pem')));
    expect(cert.fingerprint256).toBe(fp(st.newPem));
    expect(await applyCaPhase(dir, { ...st, phase: 'client' })).toBe(false);
  });

  it('refuses (exit 2, nothing written) when flanctl does not own the CA or etcd is plain http; certs rotate without --ca waits for a CA rotation', async () => {
    const before = readFileSync(join(dir, 'ca.pem'), 'utf8');
    unlinkSync(join(dir, 'ca-key.pem'));
    const err = await rotateCa(inv, { bootstrap: fakeBootstrap([]) }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UsageError);
    expect((err as UsageError).exitCode).toBe(2);
    expect((err as Error).message).toMatch(/does not own the CA.*ca-key\.pem not found/);
    expect(existsSync(join(dir, 'ca-rotation.json'))).toBe(false);
    expect(readFileSync(join(dir, 'ca.pem'), 'utf8')).toBe(before);

    const plain = await load({ etcd: { endpoints: ['http://10.77.0.1:2379'], insecure: true }, pki: { dir } });
    await expect(rotateCa(plain)).rejects.toThrow(/plain http/);
  });

  it('an error in a phase (preflight, lock) says where the rotation stands; the rerun continues there', async () => {
    const m = modelEtcd();
    const notes: string[] = [];
    const boom: RotateCaOptions['bootstrap'] = async () => { throw new Error('preflight: node2 unreachable'); };
    await expect(rotateCa(inv, { etcdOwner: m.owner, probe: m.probe, bootstrap: boom, note: (l) => notes.push(l) })).rejects.toThrow(/node2 unreachable/);
    expect(notes).toEqual(['CA rotation stopped in phase 1/3 (trust); run `flanctl certs rotate --ca` again to continue from there']);
    const r = await rotateCa(inv, { etcdOwner: m.owner, probe: m.probe, bootstrap: fakeBootstrap([]) });
    expect(r.resumed).toBe(true);
    expect(r.done).toBe(true);
  });

  it('certs rotate (client certificate only) is refused while a CA rotation is recorded', async () => {
    const m = modelEtcd();
    await rotateCa(inv, { probe: m.probe, bootstrap: fakeBootstrap([]) });
    await expect(rotateCerts(inv, {})).rejects.toThrow(/a CA rotation is in progress .*phase 1\/3/);
  });
});
