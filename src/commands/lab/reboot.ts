import { Args, Flags } from '@oclif/core';
import { FlanctlCommand } from '../../command.js';
import { labPowerOff, labReboot } from '../../lab/node-ops.js';
import { dirFlag } from '../../lab/cli-flags.js';

export default class LabReboot extends FlanctlCommand<typeof LabReboot> {
  static summary = 'Simulate a reboot of a lab node: stop all its processes, clear /run, links, routes and iptables, start its init again.';
  static description = 'Files on the node\'s disks (/etc, /usr, /var, /opt, /var/log) survive, as on a real host; supervisord then starts what is configured. --power-off leaves the node down (dead hardware); `lab up` starts it again.';
  static examples = ['<%= config.bin %> lab reboot node2', '<%= config.bin %> lab reboot node3 --power-off'];
  static args = { node: Args.string({ description: 'Node name (node1, node2, …).', required: true }) };
  static flags = { dir: dirFlag, 'power-off': Flags.boolean({ summary: 'Stop the node and leave it down.' }) };

  async run(): Promise<{ node: string; state: string; pid?: number }> {
    const { args } = await this.parse(LabReboot);
    if (this.flags['power-off']) {
      await labPowerOff(this.flags.dir, args.node);
      this.say(`${args.node}: powered off`);
      return { node: args.node, state: 'off' };
    }
    const { pid } = await labReboot(this.flags.dir, args.node);
    this.say(`${args.node}: rebooted (init pid ${pid})`);
    return { node: args.node, state: 'running', pid };
  }
}
