import { Flags } from '@oclif/core';
import { FlanctlCommand } from '../../command.js';
import { rotateCerts, type RotateResult } from '../../bootstrap/certs-rotate.js';
import { ExitCode } from '../../errors.js';
import { failureLines } from '../../engine/plan-output.js';
import { renderReport } from '../../verify/matrix.js';

export default class CertsRotate extends FlanctlCommand<typeof CertsRotate> {
  static summary = 'Issue a new flanneld client certificate and roll it out: flanneld restarts in verified batches.';
  static description = `The new certificate is signed by pki.dir's CA on this machine (the CA key never leaves it). Then bootstrap's rolling path: per batch (--batch-size, default 1) the certificate and key are replaced on the nodes, flanneld restarts and the batch is verified against every peer; the first failing batch stops the rotation (continue it with \`flanctl bootstrap\`). Finally verify of every node; \`status\` shows the expiry each node now has.
--ca (rotating the CA itself) is refused: the CA also anchors etcd's trust, which flanctl does not manage.`;
  static examples = ['<%= config.bin %> certs rotate', '<%= config.bin %> certs rotate --batch-size 25% --json'];
  static flags = {
    concurrency: FlanctlCommand.changeFlags.concurrency,
    'batch-size': Flags.string({ summary: 'Nodes restarted at a time (N or P%, default 1), each batch verified before the next.' }),
    ca: Flags.boolean({ summary: 'Also rotate the CA (not implemented: refused with an explanation).' }),
  };

  async run(): Promise<RotateResult> {
    const inv = await this.inventory();
    const report = await rotateCerts(inv, {
      ca: this.flags.ca,
      concurrency: this.flags.concurrency,
      batchSize: this.flags['batch-size'],
      output: this.jsonEnabled() ? 'silent' : 'auto',
    });
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
