import { FlanctlCommand } from '../command.js';

export default class Validate extends FlanctlCommand<typeof Validate> {
  static summary = 'Check an inventory and print what it describes.';
  static examples = ['<%= config.bin %> validate -i inventory.yaml', '<%= config.bin %> validate --json'];

  async run(): Promise<unknown> {
    const inv = await this.inventory();
    this.say(`${inv.file}: valid, ${inv.nodes.length} node(s), backend ${inv.network.backend.type}`);
    return { file: inv.file, nodes: inv.nodes.length, backend: inv.network.backend };
  }
}
