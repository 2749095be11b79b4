/**
 * The control-machine side of `certs rotate --ca` (issue 16 item 5): the files of a CA rotation in
 * pki.dir and the phase they are in. Everything stays on this machine; keys are written 0600.
 *
 *   ca-rotation.json      the phase and both CAs' certificates (public): the run resumes from it
 *   ca-old.pem/-key.pem   the CA being retired (the key is deleted when the rotation is done)
 *   ca-new.pem/-key.pem   the new CA (merged into ca.pem / ca-key.pem; deleted when done)
 *
 * ca.pem is what nodes (flanneld's -etcd-cafile), flanctl and the lab's etcd trust. Its FIRST
 * certificate is the signing CA (ca-key.pem belongs to it); further certificates are trusted too:
 *   trust   ca.pem = old + new, ca-key.pem = old   (everyone learns to trust the new CA)
 *   client  ca.pem = new + old, ca-key.pem = new   (the flanneld certificate is issued by the new CA)
 *   drop    ca.pem = new,       ca-key.pem = new   (the old CA is trusted nowhere flanctl writes)
 * Certificates that ca.pem held besides the old CA (a chain the operator put there) stay in it.
 */
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { PkiError, UsageError } from '../errors.js';
import type { Inventory } from '../model/inventory.js';
import { caFiles, createCaPem, writeAtomic } from './pki.js';

export type CaPhase = 'trust' | 'client' | 'drop';
export const CA_PHASES: CaPhase[] = ['trust', 'client', 'drop'];

export interface CaRotationState {
  version: 1;
  phase: CaPhase;
  startedAt: string;
  /** ca.pem as it was before the rotation (the old CA first). */
  oldPem: string;
  /** The new CA's certificate. */
  newPem: string;
}

export const rotationFiles = (dir: string) => ({
  state: join(dir, 'ca-rotation.json'),
  newCert: join(dir, 'ca-new.pem'),
  newKey: join(dir, 'ca-new-key.pem'),
  oldCert: join(dir, 'ca-old.pem'),
  oldKey: join(dir, 'ca-old-key.pem'),
});

/** The PEM CERTIFICATE blocks of a text, each ending in a newline. */
export function pemBlocks(text: string): string[] {
  return [...text.matchAll(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g)].map((m) => `${m[0]}\n`);
}

export function readCaRotation(dir: string): CaRotationState | undefined {
  const file = rotationFiles(dir).state;
  if (!existsSync(file)) return undefined;
  let st: Partial<CaRotationState>;
  try {
    st = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new PkiError(`${file}: not valid JSON (${(err as Error).message}); the CA rotation cannot continue from it`);
  }
  if (st.version !== 1 || !CA_PHASES.includes(st.phase as CaPhase) || typeof st.oldPem !== 'string' || typeof st.newPem !== 'string' || !pemBlocks(st.oldPem).length || pemBlocks(st.newPem).length !== 1) {
    throw new PkiError(`${file}: not a CA rotation state flanctl wrote; the CA rotation cannot continue from it`);
  }
  return st as CaRotationState;
}

export async function saveCaRotation(dir: string, st: CaRotationState): Promise<void> {
  await writeAtomic(rotationFiles(dir).state, `${JSON.stringify(st, null, 2)}\n`, 0o644);
}

/** Why flanctl does not own the inventory's CA (it can only rotate a CA whose key it holds), or undefined. */
export function caOwnershipProblem(inv: Inventory): string | undefined {
  const { certFile, keyFile } = caFiles(inv.pki.dir);
  if (!existsSync(certFile)) return `${certFile} not found (run \`flanctl certs generate\` first)`;
  if (!existsSync(keyFile)) return `${keyFile} not found: flanctl holds only the CA's certificate (e.g. the etcd cluster's CA), not its key, so the CA is not flanctl's to rotate`;
  try {
    if (!new X509Certificate(readFileSync(certFile)).checkPrivateKey(createPrivateKey(readFileSync(keyFile)))) return `${keyFile} does not belong to ${certFile}`;
  } catch (err) {
    return `${certFile} / ${keyFile}: ${(err as Error).message.split('\n')[0]}`;
  }
  return undefined;
}

/** Start a rotation: keep copies of the old CA, create the new one next to it, record phase 'trust'. */
export async function startCaRotation(inv: Inventory): Promise<CaRotationState> {
  const dir = inv.pki.dir;
  const f = rotationFiles(dir);
  const ca = caFiles(dir);
  const oldPem = readFileSync(ca.certFile, 'utf8');
  const oldKey = readFileSync(ca.keyFile, 'utf8');
  if (!pemBlocks(oldPem).length) throw new PkiError(`${ca.certFile}: no CERTIFICATE block`);
  await writeAtomic(f.oldKey, oldKey, 0o600);
  await writeAtomic(f.oldCert, oldPem, 0o644);
  const made = await createCaPem(inv.pki.ca);
  await writeAtomic(f.newKey, made.keyPem, 0o600);
  await writeAtomic(f.newCert, made.certPem, 0o644);
  const st: CaRotationState = { version: 1, phase: 'trust', startedAt: new Date().toISOString(), oldPem, newPem: made.certPem };
  await saveCaRotation(dir, st);
  return st;
}

/** What ca.pem holds in a phase. */
export function caPemFor(st: CaRotationState, phase: CaPhase = st.phase): string {
  const old = pemBlocks(st.oldPem);
  const neu = pemBlocks(st.newPem);
  if (phase === 'trust') return [...old, ...neu].join('');
  if (phase === 'client') return [...neu, ...old].join('');
  return [...neu, ...old.slice(1)].join('');
}

/** Bring ca.pem and ca-key.pem to the state's phase (idempotent: also repairs a run interrupted between the two writes). */
export async function applyCaPhase(dir: string, st: CaRotationState): Promise<boolean> {
  const f = rotationFiles(dir);
  const ca = caFiles(dir);
  const keyFile = st.phase === 'trust' ? f.oldKey : f.newKey;
  if (!existsSync(keyFile)) throw new PkiError(`${keyFile} is missing: the CA rotation recorded in ${f.state} cannot continue`, { hint: 'Restore the key file from a backup of pki.dir.' });
  const wantKey = readFileSync(keyFile, 'utf8');
  const wantCert = caPemFor(st);
  let changed = false;
  if (!existsSync(ca.keyFile) || readFileSync(ca.keyFile, 'utf8') !== wantKey) {
    await writeAtomic(ca.keyFile, wantKey, 0o600);
    changed = true;
  }
  if (!existsSync(ca.certFile) || readFileSync(ca.certFile, 'utf8') !== wantCert) {
    await writeAtomic(ca.certFile, wantCert, 0o644);
    changed = true;
  }
  return changed;
}

/** The rotation is done: the old CA's key and the rotation's working files go; ca-old.pem stays for reference. */
export async function finishCaRotation(dir: string): Promise<void> {
  const f = rotationFiles(dir);
  for (const file of [f.oldKey, f.newKey, f.newCert, f.state]) await rm(file, { force: true });
}

/** `certs rotate` (without --ca) and `certs generate --force` must not issue from a CA in mid-rotation. */
export function refuseDuringCaRotation(inv: Inventory, what: string): void {
  const st = readCaRotation(inv.pki.dir);
  if (st) {
    throw new UsageError(`${what}: a CA rotation is in progress in ${inv.pki.dir} (phase ${CA_PHASES.indexOf(st.phase) + 1}/3, ${st.phase})`, {
      hint: 'Continue it with `flanctl certs rotate --ca`.',
    });
  }
}
