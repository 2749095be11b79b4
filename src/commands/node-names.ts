import { join } from 'node:path';
import { Flags } from '@oclif/core';
import { FlanctlCommand } from '../command.js';
import { nodeNamesOf } from '../cli/node-names.js';
import { dirFlag } from '../lab/cli-flags.js';

/** Hidden: what the shell completion scripts call for node names (--limit, `lab exec <node>`). */
export default class NodeNames extends FlanctlCommand<typeof NodeNames> {
  static hidden = true;
  static summary = 'Print the node names of the inventory (or of the lab with --lab), one per line, for shell completion.';
  static enableJsonFlag = false;
  static flags = {
    lab: Flags.boolean({ summary: "Read the lab's inventory (<dir>/inventory.yaml) instead of --inventory." }),
    dir: dirFlag,
  };

  async run(): Promise<string[]> {
    const file = this.flags.lab ? join(this.flags.dir, 'inventory.yaml') : this.flags.inventory;
    const names = nodeNamesOf(file);
    if (names.length) this.log(names.join('\n'));
    return names;
  }
}
