import { Flags } from '@oclif/core';
import { FlanctlCommand } from '../command.js';
import { openPool } from '../connector/pool.js';
import { convergePhases, type Target } from '../engine/engine.js';
import { ExitCode } from '../errors.js';
import { openKv } from '../kv/index.js';
import type { Kv } from '../kv/kv.js';
import { CLUSTER_TARGET } from '../engine/output.js';
import type { Report } from '../engine/report.js';
import { askToProceed } from '../switch/confirm.js';
import { resetEtcdStep, resetNodeSteps } from '../reset/reset.js';
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
    const nodesToReset = withNodes(inv, only).nodes;
    const concurrency = this.flags.concurrency ?? inv.ssh.concurrency;
    const keepEtcd = this.flags['keep-etcd'];
    const pool = openPool(inv);
    let kv: Kv | undefined;
    const targets = (): Target[][] => {
      const nodes: Target[] = nodesToReset.map((node) => ({
        name: node.name,
        steps: resetNodeSteps(inv),
        open: async () => ({ inventory: inv, node, conn: await pool.get(node.name) }),
      }));
      if (keepEtcd) return [nodes];
      const etcd: Target = {
        name: CLUSTER_TARGET,
        steps: [resetEtcdStep(inv, only && nodesToReset)],
        open: async () => ({ inventory: inv, kv: (kv ??= await openKv(inv)) }),
      };
      return [nodes, [etcd]];
    };
    const output = this.jsonEnabled() ? 'silent' : 'auto';
    try {
      if (this.flags['dry-run'] || !this.flags.yes) {
        const plan = await convergePhases(targets(), { command: 'reset', mode: 'check', concurrency, output });
        if (this.flags['dry-run'] || plan.summary.failed > 0 || plan.summary.changed === 0) {
          if (plan.summary.failed > 0) this.setExitCode(ExitCode.failure);
          return plan;
        }
        if (!(await askToProceed([], `reset (${plan.summary.changed} change(s) on ${nodesToReset.length} node(s)${keepEtcd ? '' : ' and etcd'})`, (l) => this.say(l)))) {
          this.say('reset: not confirmed, nothing changed');
          this.setExitCode(ExitCode.failure);
          return plan;
        }
      }
      const report = await convergePhases(targets(), { command: 'reset', mode: 'apply', concurrency, output });
      if (report.summary.failed > 0) this.setExitCode(ExitCode.failure);
      return report;
    } finally {
      await pool.closeAll();
      await kv?.close();
    }
  }
}
