import { Flags } from '@oclif/core';
import { FlanctlCommand } from '../../command.js';
import { ensureFlanneldCert, readCertInfo, writePkiGitignore } from '../../pki/index.js';

export default class CertsGenerate extends FlanctlCommand<typeof CertsGenerate> {
  static summary = 'Create the CA (unless present) and the flanneld client certificate.';
  static description = `Works in pki.dir with cfssl's file names. An existing ca.pem + ca-key.pem (usually the etcd cluster's CA) is reused; otherwise a new CA is created. flanneld.pem / flanneld-key.pem / flanneld.csr are issued with the configured subject, key (RSA 2048 by default, or ECDSA P-256) and expiry, extended key usage client auth only. Private keys are written 0600. A rerun changes nothing while the certificate is valid and matches the inventory; --force issues a new one.`;
  static examples = [
    { description: 'Create what is missing', command: '<%= config.bin %> certs generate' },
    { description: 'Issue a new flanneld certificate even though the current one is fine', command: '<%= config.bin %> certs generate --force' },
    { description: 'Reuse the etcd cluster\'s CA: copy its ca.pem and ca-key.pem into pki.dir first', command: 'cp /etc/etcd/ssl/ca*.pem pki/ && <%= config.bin %> certs generate' },
  ];
  static flags = {
    force: Flags.boolean({ summary: 'Reissue the flanneld certificate (the CA is never replaced).' }),
  };

  async run(): Promise<unknown> {
    const inv = await this.inventory();
    writePkiGitignore(inv.pki.dir); // before any key is written: *-key.pem never goes into git
    const res = await ensureFlanneldCert(inv, { force: this.flags.force });
    const info = readCertInfo(res.certFile);
    this.say(`CA        ${res.caFile}: ${res.caCreated ? 'created' : 'reused'}`);
    this.say(`flanneld  ${res.certFile}: ${res.created ? `issued (${res.reason})` : 'unchanged (valid and matching the inventory)'}`);
    this.say(`          subject ${info.subject}; ${info.keyAlgo} ${info.keySize}; EKU ${info.eku.join(', ')}; expires ${info.notAfter}`);
    return {
      dir: inv.pki.dir,
      ca: { file: res.caFile, created: res.caCreated },
      flanneld: { file: res.certFile, keyFile: res.keyFile, created: res.created, reason: res.reason, info },
    };
  }
}
