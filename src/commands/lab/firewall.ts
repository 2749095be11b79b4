import { Args, Flags } from '@oclif/core';
import { FlanctlCommand } from '../../command.js';
import { labFirewall } from '../../lab/node-ops.js';
import { dirFlag } from '../../lab/cli-flags.js';

export default class LabFirewall extends FlanctlCommand<typeof LabFirewall> {
  static summary = 'Give a lab node the CentOS 7 default host firewall: INPUT and FORWARD end in REJECT --reject-with icmp-host-prohibited.';
  static description = 'Before the INPUT REJECT: ACCEPT for established traffic, loopback and SSH (port 22), as on CentOS. It blocks the vxlan port and forwarded pod traffic, which `bootstrap` preflight reports; iptables.openBackend: true lets flanctl insert its own ACCEPT rules ahead of it. --remove deletes exactly these rules.';
  static examples = ['<%= config.bin %> lab firewall node2', '<%= config.bin %> lab firewall node2 --remove'];
  static args = { node: Args.string({ description: 'Node name (node1, node2, …).', required: true }) };
  static flags = { dir: dirFlag, remove: Flags.boolean({ summary: 'Delete the rules again.' }) };

  async run(): Promise<{ node: string; changed: string[] }> {
    const { args } = await this.parse(LabFirewall);
    const changed = await labFirewall(this.flags.dir, args.node, { remove: this.flags.remove });
    for (const c of changed) this.say(`${args.node}: iptables ${c}`);
    if (!changed.length) this.say(`${args.node}: nothing to change`);
    return { node: args.node, changed };
  }
}
