import { Flags } from '@oclif/core';
import { FlanctlCommand } from '../command.js';
import { runBootstrap, type BootstrapResult } from '../bootstrap/bootstrap.js';
import { ExitCode } from '../errors.js';
import { failureLines, renderPlan } from '../engine/plan-output.js';
import { renderReport } from '../verify/matrix.js';

export default class Bootstrap extends FlanctlCommand<typeof Bootstrap> {
  static summary = 'Install and start flannel on every node of the inventory, idempotently.';
  static description = `Preflight on every node first (SSH + host key, root/sudo, ip, iptables, kernel modules, iface + public IP, etcd with the flanneld cert, the tarball); any problem stops everything before a change.
Then: <prefix>/config in etcd (only when it differs), and on every node in parallel: certificates into flannel.configDir (the CA key never leaves this machine), net.ipv4.ip_forward=1, flanneld and mk-docker-opts.sh (uploaded only when the sha256 differs), the iptables script, the systemd unit or supervisord program, flanneld started or restarted only when something it depends on changed, a wait for the subnet lease and subnet.env, flanctl's iptables rules, and a check that every node routes every peer (restarting flanneld where one is missing). Finally verify.
A second run changes nothing and restarts nothing.`;
  static examples = [
    '<%= config.bin %> bootstrap -i inventory.yaml',
    '<%= config.bin %> bootstrap --dry-run',
    '<%= config.bin %> bootstrap --concurrency 20 --json > report.json',
    '<%= config.bin %> bootstrap --trust-new-hosts --no-verify',
  ];
  static flags = {
    ...FlanctlCommand.changeFlags,
    ...FlanctlCommand.limitFlag,
    'batch-size': Flags.string({ summary: 'Running nodes whose flanneld restarts are changed this many at a time (N or P%), each batch verified against all peers before the next (default 1).' }),
    'trust-new-hosts': Flags.boolean({ summary: 'Record the host keys of nodes not yet in known_hosts (a changed key is always refused).' }),
    verify: Flags.boolean({ summary: 'Run verify at the end (--no-verify skips it).', default: true, allowNo: true }),
    'lease-timeout': Flags.integer({ summary: 'Seconds a node may take to hold a subnet lease and write subnet.env.', default: 60, min: 1 }),
  };

  async run(): Promise<BootstrapResult> {
    const inv = await this.inventory();
    const dryRun = this.flags['dry-run'];
    if (!dryRun) this.catchInterrupts();
    const report = await runBootstrap(inv, {
      command: dryRun ? 'plan' : 'bootstrap',
      mode: dryRun ? 'check' : 'apply',
      concurrency: this.flags.concurrency,
      output: this.jsonEnabled() || dryRun ? 'silent' : 'auto',
      trustNewHosts: this.flags['trust-new-hosts'],
      verify: this.flags.verify,
      leaseTimeoutMs: this.flags['lease-timeout'] * 1000,
      lockWaitMs: this.lockWaitMs(),
      note: (l) => this.logToStderr(l),
      limit: this.flags.limit,
      batchSize: this.flags['batch-size'],
    });
    if (dryRun) this.say(renderPlan(report));
    if (this.endInterrupted(report, 'flanctl bootstrap')) return report;
    const failures = failureLines(report);
    if (failures.length) {
      if (!this.jsonEnabled()) for (const l of failures) this.logToStderr(`FAILED ${l}`);
      this.setExitCode(ExitCode.failure);
    } else if (report.verify) {
      this.say('');
      this.say(renderReport(report.verify));
      if (!report.verify.ok) this.setExitCode(ExitCode.drift);
    }
    return report;
  }
}
