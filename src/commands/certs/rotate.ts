import { Flags } from '@oclif/core';
import { FlanctlCommand } from '../../command.js';
import { rotateCerts, type RotateResult } from '../../bootstrap/certs-rotate.js';
import { renderCaRotation, rotateCa, type CaRotationResult } from '../../bootstrap/certs-rotate-ca.js';
import { labEtcdOwner } from '../../lab/etcd-owner.js';
import { ExitCode } from '../../errors.js';
import { failureLines } from '../../engine/plan-output.js';
import { renderReport } from '../../verify/matrix.js';

export default class CertsRotate extends FlanctlCommand<typeof CertsRotate> {
  static summary = 'Issue a new flanneld client certificate (--ca: also a new CA) and roll it out: flanneld restarts in verified batches.';
  static description = `The new certificate is signed by pki.dir's CA on this machine (the CA key never leaves it). Then bootstrap's rolling path: per batch (--batch-size, default 1) the certificate and key are replaced on the nodes, flanneld restarts and the batch is verified against every peer; the first failing batch stops the rotation (continue it with \`flanctl bootstrap\`). Finally verify of every node; \`status\` shows the expiry each node now has.
--ca also replaces the CA, when flanctl owns it (pki.dir holds ca.pem and ca-key.pem), in three rolling phases: 1 nodes and etcd trust old + new CA, 2 the flanneld certificate is issued by the new CA, 3 the old CA is dropped. flanctl restarts the lab's etcd itself; for your own etcd it stops and prints the exact step to take on the members, checks them with a TLS handshake, and a rerun continues where it stopped.`;
  static examples = ['<%= config.bin %> certs rotate', '<%= config.bin %> certs rotate --batch-size 25% --json', '<%= config.bin %> certs rotate --ca'];
  static flags = {
    concurrency: FlanctlCommand.changeFlags.concurrency,
    'batch-size': Flags.string({ summary: 'Nodes restarted at a time (N or P%, default 1), each batch verified before the next.' }),
    ca: Flags.boolean({ summary: 'Also rotate the CA flanctl owns: old + new trusted, new client cert, old CA dropped (resumable).' }),
  };

  async run(): Promise<RotateResult | CaRotationResult> {
    const inv = await this.inventory();
    const common = { concurrency: this.flags.concurrency, batchSize: this.flags['batch-size'], output: this.jsonEnabled() ? 'silent' as const : 'auto' as const };
    if (this.flags.ca) {
      this.catchInterrupts();
      const r = await rotateCa(inv, { ...common, etcdOwner: labEtcdOwner(inv), progress: (l) => this.say(l), rerun: `flanctl certs rotate --ca -i ${this.flags.inventory}` });
      // Where a stopped rotation stands goes to stderr also under --json (stdout keeps the JSON report).
      for (const l of renderCaRotation(r)) (r.stopped ? process.stderr.write(`${l}\n`) : this.say(l));
      const last = r.phases.at(-1)?.report;
      if (last && this.endInterrupted(last, 'flanctl certs rotate --ca')) return r;
      if (r.stopped) this.setExitCode(last?.verify && !last.verify.ok && !last.summary.failed ? ExitCode.drift : ExitCode.failure);
      return r;
    }
    const report = await rotateCerts(inv, common);
    this.say(`flanneld certificate: serial ${report.certificate.before.serial} → ${report.certificate.after.serial}, expires ${report.certificate.after.notAfter}`);
    const failures = failureLines(report);
    if (failures.length) {
      if (!this.jsonEnabled()) for (const l of failures) this.logToStderr(`FAILED ${l}`);
      this.setExitCode(ExitCode.failure);
    } else if (report.verify) {
      this.say(renderReport(report.verify));
      if (!report.verify.ok) this.setExitCode(ExitCode.drift);
    }
    return report;
  }
}
