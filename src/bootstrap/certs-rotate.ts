/**
 * `flanctl certs rotate` (issue 16 item 5): issue a new flanneld client certificate from the pki CA on
 * the control machine, then distribute it with bootstrap's rolling path: per batch the cert and key
 * files are replaced, flanneld restarts, the batch is verified against every peer; the first failing
 * batch stops it. etcd accepts old and new certificates alike (same CA), so flanneld and etcd never
 * disagree; a node keeps its old, still valid certificate until its batch. Continue a stopped rotation
 * with `flanctl bootstrap` (it distributes the current certificate), not another rotate. Rotating the
 * CA itself (--ca) is certs-rotate-ca.ts.
 */
import { UsageError } from '../errors.js';
import type { Inventory } from '../model/inventory.js';
import { etcdUsesTls } from '../model/templates.js';
import { ensureFlanneldCert, readCertInfo, refuseDuringCaRotation, type CertInfo } from '../pki/index.js';
import { runBootstrap, type BootstrapOptions, type BootstrapResult } from './bootstrap.js';

export interface RotateResult extends BootstrapResult {
  certificate: { before: Pick<CertInfo, 'serial' | 'notAfter'>; after: Pick<CertInfo, 'serial' | 'notAfter'> };
}

export async function rotateCerts(inv: Inventory, opts: Omit<BootstrapOptions, 'command' | 'mode'>): Promise<RotateResult> {
  if (!etcdUsesTls(inv)) throw new UsageError('certs rotate: etcd.endpoints are plain http; flanneld uses no certificate');
  refuseDuringCaRotation(inv, 'certs rotate');
  const first = await ensureFlanneldCert(inv); // CA present and current cert valid before anything changes
  const before = readCertInfo(first.certFile);
  const issued = await ensureFlanneldCert(inv, { force: true });
  const after = readCertInfo(issued.certFile);
  const report = await runBootstrap(inv, { ...opts, command: 'certs rotate', mode: 'apply' });
  return { ...report, certificate: { before: { serial: before.serial, notAfter: before.notAfter }, after: { serial: after.serial, notAfter: after.notAfter } } };
}
