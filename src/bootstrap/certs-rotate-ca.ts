/**
 * `flanctl certs rotate --ca` (issue 16 item 5): replace the CA flanctl owns (ca.pem + ca-key.pem in
 * pki.dir) without a moment where etcd and flanneld disagree. Three phases, each a rolling bootstrap
 * (batches, flanneld restarted, each batch verified against every peer, then verify of all):
 *   1 trust   ca.pem = old + new CA on every node (flanneld's -etcd-cafile) and in etcd's trust; a
 *             handshake with a client certificate from the new CA proves etcd accepts it;
 *   2 client  the flanneld certificate is issued by the new CA and rolled out; etcd's server
 *             certificate must then chain to the new CA (checked by a handshake trusting only it);
 *   3 drop    ca.pem = new CA only, on the nodes and in etcd's trust; the old CA's key is deleted.
 * Where flanctl manages etcd's TLS files (the lab, EtcdTlsOwner) it restarts etcd / reissues its server
 * certificate itself; otherwise the run stops before the phase that needs etcd's side, printing the
 * exact steps, and a rerun continues. The phase is recorded in pki.dir/ca-rotation.json (pki/rotation.ts)
 * before it starts, so an interrupted or failed run resumes where it stopped. The CA keys never leave
 * this machine.
 */
import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { UsageError } from '../errors.js';
import type { Inventory } from '../model/inventory.js';
import { etcdUsesTls } from '../model/templates.js';
import { failureLines } from '../engine/plan-output.js';
import {
  CA_PHASES, applyCaPhase, caFiles, caOwnershipProblem, caPemFor, certFiles, ensureFlanneldCert, finishCaRotation, readCaRotation,
  rotationFiles, saveCaRotation, startCaRotation, type CaPhase, type CaRotationState,
} from '../pki/index.js';
import { runBootstrap, type BootstrapOptions, type BootstrapResult } from './bootstrap.js';
import { dropSteps, probeAll, probeText, probeWithCaClient, serverCertSteps, trustSteps, type EtcdTlsOwner, type Probe } from './ca-etcd-side.js';

export type { EtcdTlsOwner } from './ca-etcd-side.js';

export const PHASE_TEXT: Record<CaPhase, string> = {
  trust: 'nodes and etcd trust the old and the new CA',
  client: 'flanneld certificate issued by the new CA',
  drop: 'old CA dropped',
};

export interface CaPhaseResult {
  phase: CaPhase;
  /** 1..3 */
  index: number;
  ok: boolean;
  report?: BootstrapResult;
  /** What flanctl did on etcd's side (the lab). */
  etcd: string[];
  error?: string;
}

export interface CaSummary {
  subject: string;
  serial: string;
  notAfter: string;
  fingerprint256: string;
}

export interface CaRotationResult {
  /** Continued a rotation an earlier run recorded. */
  resumed: boolean;
  ca: { old: CaSummary; new: CaSummary };
  phases: CaPhaseResult[];
  done: boolean;
  /** Where the run stopped (the rotation is recorded; rerun `certs rotate --ca` to continue). */
  stopped?: { phase: CaPhase; index: number; reason: string; steps: string[] };
  /** Checked after phase 3 with a client certificate from the old CA. */
  etcdTrustsOldCa?: boolean;
  /** Things left for the operator (etcd's side when flanctl does not manage it). */
  operatorSteps: string[];
  /** Who managed etcd's TLS files, when flanctl did. */
  etcdOwner?: string;
}

export interface RotateCaOptions extends Omit<BootstrapOptions, 'command' | 'mode'> {
  /** flanctl manages etcd's TLS files (the lab); undefined: the operator does, guided by printed steps. */
  etcdOwner?: EtcdTlsOwner;
  /** How a rerun is spelled in messages (default `flanctl certs rotate --ca`). */
  rerun?: string;
  /** Progress lines (phase headers); default none. */
  progress?: (line: string) => void;
  /** Tests: replace the rolling bootstrap and the TLS handshakes. */
  bootstrap?: typeof runBootstrap;
  probe?: Probe;
}

function summary(pem: string): CaSummary {
  const c = new X509Certificate(pem);
  return { subject: c.subject.replace(/\n/g, ', '), serial: c.serialNumber, notAfter: new Date(c.validTo).toISOString(), fingerprint256: c.fingerprint256 };
}

/** Why a phase's bootstrap is not a success, or undefined. */
function failureOf(r: BootstrapResult): string | undefined {
  if (r.interrupted) return `interrupted (${r.interrupted})`;
  if (r.rollout?.stopped) return `rollout stopped at batch ${r.rollout.stopped.batch} (${r.rollout.stopped.nodes.join(', ')}): ${r.rollout.stopped.reason}`;
  if (r.summary.failed) return failureLines(r).join('; ') || `${r.summary.failed} target(s) failed`;
  if (r.verify && !r.verify.ok) return `verify failed (${r.verify.pairs.filter((p) => !p.ok).length} pair(s), ${r.verify.checks.filter((c) => !c.ok).length} check(s))`;
  return undefined;
}

export async function rotateCa(inv: Inventory, opts: RotateCaOptions = {}): Promise<CaRotationResult> {
  if (!etcdUsesTls(inv)) throw new UsageError('certs rotate --ca: etcd.endpoints are plain http; flanneld uses no certificate');
  const dir = inv.pki.dir;
  let st = readCaRotation(dir);
  const resumed = !!st;
  if (!st) {
    const problem = caOwnershipProblem(inv);
    if (problem) {
      throw new UsageError(`certs rotate --ca: flanctl does not own the CA in pki.dir: ${problem}`, {
        hint: 'flanctl rotates a CA only when pki.dir holds both ca.pem and its key ca-key.pem. Rotate that CA where its key lives, put the new ca.pem (old + new during the change) in pki.dir, then run `flanctl certs rotate`.',
      });
    }
    await ensureFlanneldCert(inv); // the current CA and certificate are sound before anything changes
    st = await startCaRotation(inv);
  }
  const rerun = opts.rerun ?? 'flanctl certs rotate --ca';
  const boot = opts.bootstrap ?? runBootstrap;
  const owner = opts.etcdOwner;
  const files = rotationFiles(dir);
  const result: CaRotationResult = {
    resumed,
    ca: { old: summary(st.oldPem), new: summary(st.newPem) },
    phases: [],
    done: false,
    operatorSteps: [],
    ...(owner ? { etcdOwner: owner.name } : {}),
  };
  const stop = (s: CaRotationState, reason: string, steps: string[]): CaRotationResult => {
    result.stopped = { phase: s.phase, index: CA_PHASES.indexOf(s.phase) + 1, reason, steps };
    return result;
  };
  const trustNow = () => readFileSync(caFiles(dir).certFile);
  const newCaTrusted = () => probeWithCaClient(inv, { certFile: files.newCert, keyFile: files.newKey }, trustNow(), opts.probe);

  for (;;) {
    const index = CA_PHASES.indexOf(st.phase) + 1;
    opts.progress?.(`CA rotation phase ${index}/3: ${PHASE_TEXT[st.phase]}`);
    await applyCaPhase(dir, st);
    const phase: CaPhaseResult = { phase: st.phase, index, ok: false, etcd: [] };
    result.phases.push(phase);
    if (st.phase === 'trust' && owner && !(await newCaTrusted()).every((p) => p.ok)) {
      await owner.reloadTrust();
      phase.etcd.push(`${owner.name}: restarted; it trusts ca.pem (old + new CA)`);
    }
    if (st.phase === 'client') {
      await ensureFlanneldCert(inv); // ca.pem's first certificate is now the new CA: reissued from it
      if (owner) {
        await owner.reissueServerCert();
        phase.etcd.push(`${owner.name}: server certificate issued by the new CA`);
      }
    }
    try {
      phase.report = await boot(inv, { ...opts, command: `certs rotate --ca (phase ${index}/3)`, mode: 'apply' });
    } catch (err) {
      // Preflight, the cluster lock, etcd: the error says what; this says where the rotation stands.
      (opts.note ?? ((l: string) => process.stderr.write(`${l}\n`)))(`CA rotation stopped in phase ${index}/3 (${st.phase}); run \`${rerun}\` again to continue from there`);
      throw err;
    }
    const failed = failureOf(phase.report);
    if (failed) {
      phase.error = failed;
      return stop(st, failed, [`fix the cause, then run \`${rerun}\` again: it continues with phase ${index}/3 (${st.phase})`]);
    }

    if (st.phase === 'trust') {
      const probes = await newCaTrusted();
      if (!probes.every((p) => p.ok)) {
        phase.error = `etcd does not accept client certificates from the new CA yet (${probeText(probes)})`;
        return stop(st, phase.error, owner ? [`${owner.name} was restarted but still refuses the new CA; check its --trusted-ca-file`] : trustSteps(inv, rerun));
      }
      phase.ok = true;
      st = { ...st, phase: 'client' };
    } else if (st.phase === 'client') {
      // The nodes trust etcd.caFile when it is set (another CA signs etcd's server certificate): nothing to check.
      if (!inv.etcd.caFile) {
        const flanneld = certFiles(dir, 'flanneld');
        const probes = await probeAll(inv, { ca: caPemFor(st, 'drop'), cert: readFileSync(flanneld.certFile), key: readFileSync(flanneld.keyFile) }, opts.probe);
        if (!probes.every((p) => p.ok)) {
          phase.error = `etcd's server certificate does not chain to the new CA (${probeText(probes)}); the old CA cannot be dropped yet`;
          return stop(st, phase.error, serverCertSteps(inv, rerun));
        }
      }
      phase.ok = true;
      st = { ...st, phase: 'drop' };
    } else {
      if (owner) {
        await owner.reloadTrust();
        phase.etcd.push(`${owner.name}: restarted; it trusts the new CA only`);
      }
      const old = await probeWithCaClient(inv, { certFile: files.oldCert, keyFile: files.oldKey }, trustNow(), opts.probe);
      result.etcdTrustsOldCa = old.some((p) => p.ok);
      if (result.etcdTrustsOldCa) result.operatorSteps.push(...dropSteps(inv));
      await finishCaRotation(dir);
      phase.ok = true;
      result.done = true;
      return result;
    }
    await saveCaRotation(dir, st);
  }
}

/** Human lines for a CA rotation result (the rolling bootstraps print their own lines as they go). */
export function renderCaRotation(r: CaRotationResult): string[] {
  const lines = [`CA: ${r.ca.old.subject} serial ${r.ca.old.serial} → serial ${r.ca.new.serial}, expires ${r.ca.new.notAfter}${r.resumed ? ' (continued)' : ''}`];
  for (const p of r.phases) {
    lines.push(`phase ${p.index}/3 ${p.phase} (${PHASE_TEXT[p.phase]}): ${p.ok ? 'done' : 'STOPPED'}`);
    for (const e of p.etcd) lines.push(`  ${e}`);
  }
  if (r.stopped) {
    lines.push(`CA rotation stopped in phase ${r.stopped.index}/3 (${r.stopped.phase}): ${r.stopped.reason}`, ...r.stopped.steps);
  } else if (r.done) {
    lines.push(`CA rotation done: the old CA is no longer trusted by flanneld${r.etcdTrustsOldCa === false ? ' or etcd' : ''}; its key was deleted (certificate kept as ca-old.pem)`);
  }
  lines.push(...r.operatorSteps);
  return lines;
}
