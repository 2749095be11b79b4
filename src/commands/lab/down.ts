import { Flags } from '@oclif/core';
import { FlanctlCommand } from '../../command.js';
import { labDown } from '../../lab/lab.js';
import { dirFlag } from '../../lab/cli-flags.js';

export default class LabDown extends FlanctlCommand<typeof LabDown> {
  static summary = 'Stop the lab: its processes (by recorded PID), namespaces, veths, bridge and mounts (root).';
  static description = 'Removes exactly what `lab up` recorded in DIR/state.json. Keys, CA and etcd data stay in DIR for the next `lab up` unless --purge is given. Running it twice is fine.';
  static examples = ['<%= config.bin %> lab down', '<%= config.bin %> lab down --purge --dir /srv/lab'];

  static flags = {
    dir: dirFlag,
    purge: Flags.boolean({ summary: "Also delete the lab's own files in DIR (keys, CA, etcd data, inventory), and DIR once nothing else is in it." }),
  };

  async run(): Promise<unknown> {
    const result = await labDown({ dir: this.flags.dir, purge: this.flags.purge, log: (line) => this.say(line) });
    this.say(result.removed.length || result.purged ? `lab down: ${result.dir} removed${result.purged ? ' and purged' : ''}` : `lab down: nothing running in ${result.dir}`);
    return result;
  }
}
