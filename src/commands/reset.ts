import { Flags } from '@oclif/core';
import { FlanctlCommand } from '../command.js';
import { ExitCode } from '../errors.js';
import type { Report } from '../engine/report.js';
import { askToProceed } from '../switch/confirm.js';
import { runReset } from '../reset/run.js';
import { limitedNames, withNodes } from '../model/selection.js';

export default class Reset extends FlanctlCommand<typeof Reset> {
  static summary = 'Remove what flanctl installed: flanneld service, files, flannel devices and routes, its iptables rules, etcd keys.';
  static description = `Per node: stops flanneld (and flanctl-iptables) and removes the systemd unit or supervisord program; deletes only the iptables rules carrying flanctl's comment plus flanneld's FLANNEL-* chains (jump, -F, -X); deletes flannel devices (flannel.<VNI>, flannel.ipip, flannel-wg, …) and routes inside the Network; removes the binaries, certs, subnet file, docker opts file, sysctl drop-in and flanneld logs, and the folders that held only those.
Then, unless --keep-etcd, deletes <prefix>/config and every lease; with --limit only the selected nodes are reset and only their leases deleted (the config stays). Runs like bootstrap: each step reports what it changed, so a second reset reports nothing. net.ipv4.ip_forward is left as it is at runtime; Docker's own MASQUERADE rule that bootstrap replaced is not restored.`;
  static examples = ['<%= config.bin %> reset --dry-run', '<%= config.bin %> reset --yes', '<%= config.bin %> reset --yes --keep-etcd --json'];
  static flags = {
    ...FlanctlCommand.changeFlags,
    ...FlanctlCommand.limitFlag,
    'keep-etcd': Flags.boolean({ summary: 'Keep <prefix>/config and the leases in etcd.' }),
  };

  async run(): Promise<Report> {
    const inv = await this.inventory();
    const only = limitedNames(inv, this.flags.limit);
    const keepEtcd = this.flags['keep-etcd'];
    const dryRun = this.flags['dry-run'];
    if (!dryRun) this.catchInterrupts();
    const nodes = withNodes(inv, only).nodes;
    const { report, outcome } = await runReset(inv, {
      nodes,
      onlySomeNodes: !!only,
      keepEtcd,
      dryRun,
      concurrency: this.flags.concurrency ?? inv.ssh.concurrency,
      output: this.jsonEnabled() ? 'silent' : 'auto',
      lockWaitMs: this.lockWaitMs(),
      note: (l) => this.logToStderr(l),
      confirm: this.flags.yes ? undefined : (n) => askToProceed([], `reset (${n} change(s) on ${nodes.length} node(s)${keepEtcd ? '' : ' and etcd'})`, (l) => this.say(l)),
    });
    if (outcome === 'declined') this.say('reset: not confirmed, nothing changed');
    if (this.endInterrupted(report, 'flanctl reset')) return report;
    if (outcome === 'declined' || report.summary.failed > 0) this.setExitCode(ExitCode.failure);
    return report;
  }
}
