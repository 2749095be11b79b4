import { Flags } from '@oclif/core';
import { FlanctlCommand } from '../../command.js';
import { ExitCode } from '../../errors.js';
import { checkPki } from '../../pki/index.js';

export default class CertsCheck extends FlanctlCommand<typeof CertsCheck> {
  static summary = 'Show the CA and client certificates and fail if one is invalid or expiring.';
  static description = `Prints subject, issuer, SANs, extended key usage and expiry of pki.dir's ca.pem and flanneld.pem (and of etcd.certFile when the inventory names another client certificate). Exits 1 when a certificate is missing, unreadable, not signed by the CA, does not match its key, lacks client auth, has a key file readable by others, or expires within --warn-days.`;
  static examples = [
    { description: 'Check the certificates', command: '<%= config.bin %> certs check' },
    { description: 'Fail when anything expires within 90 days', command: '<%= config.bin %> certs check --warn-days 90' },
    { description: 'Machine-readable', command: '<%= config.bin %> certs check --json' },
  ];
  static flags = {
    'warn-days': Flags.integer({ summary: 'Fail when a certificate expires within this many days.', default: 30, min: 0 }),
  };

  async run(): Promise<unknown> {
    const inv = await this.inventory();
    const report = checkPki(inv, { warnDays: this.flags['warn-days'] });
    for (const c of report.certs) {
      this.say(`${c.ok ? 'ok  ' : 'FAIL'} ${c.role}: ${c.file}`);
      if (c.info) {
        this.say(`     subject  ${c.info.subject}`);
        this.say(`     issuer   ${c.info.issuer}`);
        this.say(`     SANs     ${c.info.sans.join(', ') || '-'}`);
        this.say(`     EKU      ${c.info.eku.join(', ') || '-'}${c.info.isCa ? ' (CA)' : ''}`);
        this.say(`     key      ${c.info.keyAlgo} ${c.info.keySize ?? ''}`);
        this.say(`     expires  ${c.info.notAfter} (${c.daysLeft} days)`);
      }
      for (const p of c.problems) this.say(`     problem: ${p}`);
    }
    if (!report.ok) {
      this.setExitCode(ExitCode.failure);
      this.say(`certs check: ${report.certs.filter((c) => !c.ok).length} certificate(s) need attention.`);
    }
    return report;
  }
}
