import { Args, Flags } from '@oclif/core';
import { resolve } from 'node:path';
import { FlanctlCommand } from '../../command.js';
import { ExitCode } from '../../errors.js';
import { nodeToRemove, removeNode, renderRemoval, type RemoveNodeReport } from '../../reset/remove-node.js';
import { askToProceed } from '../../switch/confirm.js';
import { renderReport } from '../../verify/matrix.js';

export default class NodeRemove extends FlanctlCommand<typeof NodeRemove> {
  static summary = 'Take a node out of the cluster: flannel off the node, its lease freed, peers cleaned, the inventory updated, the rest verified.';
  static description = `In order: on the node, what \`reset\` removes (service, files, flannel devices and routes, flanctl's iptables rules), for that node only; its lease deleted from etcd so the subnet returns to the pool; every remaining node checked for routes, neighbour and FDB entries of the removed node (flanneld drops them when the lease goes; flanctl removes what is left); the node removed from the inventory file (comments kept); verify of the remaining nodes.
--unreachable (dead hardware): nothing is done on the node; the lease is still freed and the peers cleaned.
Exit 0 when the rest verifies, 3 when it does not, 1 when the node could not be cleaned (nothing else changed then), 2 for a name not in the inventory.`;
  static examples = ['<%= config.bin %> node remove node3 --yes', '<%= config.bin %> node remove node4 --unreachable --yes --json'];
  static args = { name: Args.string({ required: true, description: 'The node (nodes[].name) to remove.' }) };
  static flags = {
    unreachable: Flags.boolean({ summary: 'The node is gone: skip it, still free its lease and clean the peers.' }),
    yes: Flags.boolean({ char: 'y', summary: 'Do not ask for confirmation.' }),
  };

  async run(): Promise<RemoveNodeReport> {
    const { args } = await this.parse(NodeRemove);
    const inv = await this.inventory();
    nodeToRemove(inv, args.name);
    if (!this.flags.yes && !(await askToProceed([], `removing ${args.name} from the cluster and the inventory`, (l) => this.say(l)))) {
      this.say('node remove: not confirmed, nothing changed');
      this.setExitCode(ExitCode.failure);
      return undefined as unknown as RemoveNodeReport;
    }
    const report = await removeNode(inv, args.name, {
      file: resolve(this.flags.inventory),
      unreachable: this.flags.unreachable,
      output: this.jsonEnabled() ? 'silent' : 'auto',
    });
    for (const l of renderRemoval(report)) this.say(l);
    if (report.verify) {
      this.say('');
      this.say(renderReport(report.verify));
    }
    this.setExitCode(report.ok ? ExitCode.ok : ExitCode.drift);
    return report;
  }
}
