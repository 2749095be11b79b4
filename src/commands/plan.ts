import { Flags } from '@oclif/core';
import { FlanctlCommand } from '../command.js';
import { runBootstrap, type BootstrapResult } from '../bootstrap/bootstrap.js';
import { ExitCode } from '../errors.js';
import { planCounts, renderPlan } from '../engine/plan-output.js';

export default class Plan extends FlanctlCommand<typeof Plan> {
  static summary = 'Show what bootstrap would change, per node and in etcd; change nothing.';
  static description = `Runs bootstrap's preflight and every step in check mode. One line per change: + create, ~ change, - remove, ↻ restart, with a short diff (never for keys), then "Plan: N to create, N to change, N to restart on M nodes" or "No changes. The cluster matches the inventory."
Steps that depend on earlier ones (iptables rules need the subnet flanneld leases) say so instead of failing.
Exit 0; with --detailed-exitcode 3 when there are changes; 1 when a node cannot be checked.`;
  static examples = ['<%= config.bin %> plan', '<%= config.bin %> plan --detailed-exitcode || echo "drift"', '<%= config.bin %> plan --json | jq .summary'];
  static flags = {
    concurrency: FlanctlCommand.changeFlags.concurrency,
    ...FlanctlCommand.limitFlag,
    'trust-new-hosts': Flags.boolean({ summary: 'Record the host keys of nodes not yet in known_hosts (a changed key is always refused).' }),
    'detailed-exitcode': Flags.boolean({ summary: 'Exit 3 when there are changes (0 when none).' }),
    diff: Flags.boolean({ summary: 'Show short diffs under changes (--no-diff: only the change lines).', default: true, allowNo: true }),
  };

  async run(): Promise<BootstrapResult> {
    const inv = await this.inventory();
    const report = await runBootstrap(inv, {
      command: 'plan',
      mode: 'check',
      concurrency: this.flags.concurrency,
      output: 'silent',
      trustNewHosts: this.flags['trust-new-hosts'],
      limit: this.flags.limit,
    });
    this.say(renderPlan(report, { diffs: this.flags.diff }));
    const c = planCounts(report);
    if (report.summary.failed) this.setExitCode(ExitCode.failure);
    else if (this.flags['detailed-exitcode'] && c.create + c.change + c.destroy + c.restart > 0) this.setExitCode(ExitCode.drift);
    return report;
  }
}
